# Plots of docs/BENCHMARKS.md, from the data files bench/tabulate.py writes.
# usage: gnuplot -e "dir='docs/bench'" bench/plots.gp
if (!exists("dir")) dir = "docs/bench"
set terminal pngcairo size 800,500 font ",11"
set grid
set key below

set output dir."/throughput_vs_workers.png"
set title "Throughput against workers (16 slots each, 1 client, window 128, 20-byte jobs)"
set xlabel "workers"
set ylabel "jobs/s"
set logscale x 2
set yrange [0:*]
plot dir."/workers.dat" using 1:2 with linespoints lw 2 pt 7 title "proletariat (proletariatd + C++ Worker/Client)", \
     dir."/workers.dat" using 1:3 with linespoints lw 2 pt 5 title "raw ZeroMQ forwarder (baseline)"

set output dir."/throughput_vs_window.png"
set title "Throughput against the client's window (4 workers x 16 slots, 20-byte jobs)"
set xlabel "jobs outstanding (window)"
plot dir."/window.dat" using 1:2 with linespoints lw 2 pt 7 title "proletariat (proletariatd + C++ Worker/Client)", \
     dir."/window.dat" using 1:3 with linespoints lw 2 pt 5 title "raw ZeroMQ forwarder (baseline)"

set output dir."/latency_cdf.png"
set title "Push-to-result latency, window 1 (4 workers x 16 slots, 20-byte jobs)"
set xlabel "latency (microseconds)"
set ylabel "fraction of jobs"
set logscale x 10
set yrange [0:1]
set key inside bottom right box opaque
plot dir."/latency_cdf.dat" using 2:1 with lines lw 2 title "proletariat", \
     dir."/latency_cdf.dat" using 3:1 with lines lw 2 title "raw ZeroMQ forwarder (baseline)"
