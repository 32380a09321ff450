# A failover in the lab (docs/operator-guide.md): requests per second
# through the VIP above each director's VRRP state. e2e/cmd/plots sets rps
# (TSV: t_s, then one column per series), n (its series), roles (TSV:
# level, start_s, length_s, director, state: 1 BACKUP, 2 MASTER, 3 FAULT),
# ndir (directors) and xmax (seconds).
w = 900; h = 420
load plotdir.'/common.gp'
set multiplot title 'Failover: requests through the VIP and the VRRP master' font ',12'
set lmargin 14; set rmargin 24
set xrange [0:xmax]

set origin 0, 0.38; set size 1, 0.55
set ylabel 'requests/s'
set yrange [0:*]
set format x ''
set key outside right top
plot for [i=2:n+1] rps using 1:i with lines title columnheader(i)

set origin 0, 0; set size 1, 0.42
set format x '%g'
set xlabel 'time (s)'
set ylabel 'VRRP state'
set yrange [0.5:ndir+0.5]
set ytics () scale 0
set key outside right top
# has_backup, has_fault, has_other (0 or 1): a state absent from the data
# gets no entry in the key.
plot roles using 2:($5==2 ? $1 : 1/0):3:(0):ytic(4) with vectors nohead lw 12 lc rgb '#0072B2' title 'MASTER', \
     roles using 2:($5==1 ? $1 : 1/0):3:(0):ytic(4) with vectors nohead lw 3 lc rgb '#999999' title (has_backup ? 'BACKUP' : ''), \
     roles using 2:($5==3 ? $1 : 1/0):3:(0):ytic(4) with vectors nohead lw 8 lc rgb '#D55E00' title (has_fault ? 'FAULT' : ''), \
     roles using 2:($5!=1 && $5!=2 && $5!=3 ? $1 : 1/0):3:(0):ytic(4) with vectors nohead lw 3 lc rgb '#CC79A7' title (has_other ? 'INIT/STOP' : '')
unset multiplot
