# The look shared by the doc plots (e2e/cmd/plots runs the scripts of this
# folder; `make docs`). The script sets w and h (pixels), e2e/cmd/plots
# sets out and plotdir. White background and dark text for GitHub's light
# theme; Okabe-Ito colours, which colour-blind readers can tell apart.
set terminal pngcairo size w,h enhanced font 'DejaVu Sans,10' background rgb 'white' linewidth 1
set termoption noenhanced
set encoding utf8
set output out
set datafile separator "\t"
set datafile missing "NaN"
set border 3 lc rgb '#444444'
set tics nomirror textcolor rgb '#222222'
set grid back lc rgb '#dddddd' lt 1 lw 1
set key opaque box lc rgb '#cccccc' samplen 2 spacing 1.1
set linetype 1 lc rgb '#0072B2' lw 2
set linetype 2 lc rgb '#E69F00' lw 2
set linetype 3 lc rgb '#009E73' lw 2
set linetype 4 lc rgb '#D55E00' lw 2
set linetype 5 lc rgb '#CC79A7' lw 2
set linetype 6 lc rgb '#56B4E9' lw 2
set linetype 7 lc rgb '#000000' lw 2
set linetype 8 lc rgb '#999999' lw 2
set linetype cycle 8
