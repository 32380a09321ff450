# One run of the failover benchmark, keepalived beside Tandem
# (docs/benchmarks.md, docs/operator-guide.md): requests through the VIP
# per bucket above who holds the VIP. e2e/cmd/plots sets title, xmin and
# xmax (seconds from the event), and per side (ka_, td_) title and sub (the
# panel's two title lines), req (TSV: t_s, d1 answered, d2 answered, failed; requests/s)
# and roles (TSV: level, start_s, length_s, director, state: 2 holds the
# VIP, 1 does not).
w = 900; h = 420
load plotdir.'/common.gp'
set multiplot title title font ',12'
set xrange [xmin:xmax]
set arrow 1 from 0, graph 0 to 0, graph 1 nohead lc rgb '#444444' dt 2 front
x0 = 0
do for [side in 'ka td'] {
	req = value(side.'_req')
	roles = value(side.'_roles')
	set origin x0, 0.36; set size 0.5, 0.57
	set tmargin 3.5; set bmargin 0.5; set lmargin 12; set rmargin 2
	set title value(side.'_title')."\n".value(side.'_sub') font ',10'
	set ylabel 'requests/s'
	set yrange [0:150]
	set ytics 0, 25, 100 scale default
	set format x ''
	unset xlabel
	set key top right horizontal maxrows 1 samplen 1 font ',9'
	plot req using 1:2 with steps lt 1 title columnheader(2), \
	     req using 1:3 with steps lt 3 title columnheader(3), \
	     req using 1:4 with steps lt 4 title columnheader(4)

	unset title
	set origin x0, 0; set size 0.5, 0.37
	set tmargin 0.5; set bmargin 3.5
	set format x '%g'
	set xlabel 'time from the event (s)'
	unset ylabel
	set yrange [0.4:2.9]
	set ytics () scale 0
	set key top right horizontal maxrows 1 samplen 1 font ',9'
	plot roles using 2:($5==2 ? $1 : 1/0):3:(0):ytic(4) with vectors nohead lw 10 lc rgb '#0072B2' title 'holds the VIP', \
	     roles using 2:($5==1 ? $1 : 1/0):3:(0):ytic(4) with vectors nohead lw 2 lc rgb '#999999' title 'no VIP'
	x0 = 0.5
}
unset multiplot
