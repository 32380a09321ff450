# Active connections per real server during a drain
# (docs/operator-guide.md). e2e/cmd/plots sets data (TSV: t_s, then one
# column per real server, named in the header), n (the real servers) and
# xmax (seconds).
w = 900; h = 360
load plotdir.'/common.gp'
set title 'Drain under load: active connections per real server' font ',12'
set xlabel 'time (s)'
set ylabel 'active connections'
set xrange [0:xmax]
set yrange [0:*]
set key outside right top title 'real server'
plot for [i=2:n+1] data using 1:i with lines title columnheader(i)
