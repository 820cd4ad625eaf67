# Latency by payload size for each backend against its same-run baseline,
# from the growth-payload rows of results.csv (scripts/bench turns them into
# DATA: one block per backend, columns bytes, asylo-c us, baseline us).
#   gnuplot -e "data='payload.dat'; out='payload.svg'; names='sim process'" payload_plot.gp
set terminal svg size 960,520 dynamic font "sans,12" background rgb "white"
set output out
set title "Round trip by payload size: asylo-c (solid) against its same-run baseline (dashed)"
set logscale xy
set xlabel "payload bytes, each way"
set ylabel "median round trip, microseconds"
set format x "%.0s%cB"
set grid xtics ytics mxtics mytics lc rgb "#dddddd"
set key outside right top
set datafile missing "?"
colors = "#1f77b4 #d62728 #2ca02c #9467bd #ff7f0e"
n = words(names)
plot for [i=1:n] data index (i-1) using 1:2 with linespoints lw 2 pt 7 lc rgb word(colors, i) \
         title word(names, i), \
     for [i=1:n] data index (i-1) using 1:3 with linespoints lw 1 dt 2 pt 6 lc rgb word(colors, i) \
         title word(names, i)." baseline"
