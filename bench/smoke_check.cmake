# ctest bench_smoke: runs proletariat-bench briefly in each mode and checks that every
# line it prints is a JSON object with the expected keys. No timing is asserted.
# Usage: cmake -DBENCH=/path/to/proletariat-bench -P smoke_check.cmake
cmake_minimum_required(VERSION 3.20)

function(run_bench expected_lines)
  set(keys ${ARGN})
  execute_process(COMMAND ${BENCH} ${BENCH_ARGS}
    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 120)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "proletariat-bench ${BENCH_ARGS} exited with '${rc}'\nstdout:\n${out}\nstderr:\n${err}")
  endif()
  string(STRIP "${out}" out)
  string(REPLACE "\n" ";" lines "${out}")
  list(LENGTH lines count)
  if(NOT count EQUAL expected_lines)
    message(FATAL_ERROR "proletariat-bench ${BENCH_ARGS}: expected ${expected_lines} lines, got ${count}:\n${out}")
  endif()
  foreach(line IN LISTS lines)
    string(JSON type ERROR_VARIABLE json_err TYPE "${line}")
    if(json_err OR NOT type STREQUAL "OBJECT")
      message(FATAL_ERROR "not a JSON object: ${line}\n${json_err}")
    endif()
    # A summary line (--scale) carries the comparison, not the figures of a run.
    string(JSON phase ERROR_VARIABLE phase_err GET "${line}" phase)
    if(phase STREQUAL "summary")
      string(JSON ratio ERROR_VARIABLE ratio_err GET "${line}" cpu_per_job_ratio)
      if(ratio_err)
        message(FATAL_ERROR "summary without cpu_per_job_ratio: ${line}")
      endif()
      continue()
    endif()
    foreach(key IN LISTS keys)
      # "a.b" names a key inside an object.
      string(REPLACE "." ";" path "${key}")
      string(JSON value ERROR_VARIABLE key_err GET "${line}" ${path})
      if(key_err)
        message(FATAL_ERROR "key '${key}' missing in: ${line}")
      endif()
    endforeach()
    string(JSON errors ERROR_VARIABLE e GET "${line}" errors)
    if(NOT e AND NOT errors EQUAL 0)
      message(FATAL_ERROR "the run reports ${errors} failed jobs: ${line}")
    endif()
  endforeach()
  message(STATUS "ok: proletariat-bench ${BENCH_ARGS}")
endfunction()

execute_process(COMMAND ${BENCH} --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT help MATCHES "--baseline")
  message(FATAL_ERROR "proletariat-bench --help failed (${rc}):\n${help}")
endif()

set(figures jobs_per_s p50_us p99_us p999_us cpu_s_per_100k peak_rss_kb)

# The default shape, shrunk: a throughput run and a latency run, each against the
# raw forwarder.
set(BENCH_ARGS --baseline --jobs 3000 --latency-jobs 300 --workers 2 --slots 4 --window 32)
run_bench(2 mode phase ${figures} baseline.jobs_per_s baseline.cpu_s_per_100k ratio.jobs_per_s ratio.p50_us
  ratio.cpu_per_job)

set(BENCH_ARGS --scale --scale-workers 2,20 --jobs 2000 --window 16 --slots 2)
run_bench(3 ${figures})

set(BENCH_ARGS --queued 2000 --baseline)
run_bench(1 bytes_per_job bytes_per_job_beyond_payload rss_before_kb rss_after_kb baseline.bytes_per_job)

set(BENCH_ARGS --status-latency --workers 20 --status-repeats 3)
run_bench(1 status_p50_ms status_max_ms status_bytes status_workers_listed)

set(BENCH_ARGS --features --jobs 2000 --workers 2 --slots 8 --window 16)
run_bench(1 features_on.jobs_per_s features_off.jobs_per_s ratio.jobs_per_s)

# The job lifecycle (issue 14): configured and not triggered, groups, delayed jobs.
set(BENCH_ARGS --lifecycle --jobs 2000 --workers 2 --slots 8 --window 16)
run_bench(1 on.jobs_per_s off.jobs_per_s ratio.jobs_per_s ratio.manager_cpu_per_job)
set(BENCH_ARGS --groups 100 --jobs 2000 --workers 2 --slots 8 --window 16)
run_bench(1 on.jobs_per_s off.jobs_per_s ratio.manager_cpu_per_job)
set(BENCH_ARGS --delayed 100000)
run_bench(1 manager.bytes_per_job scheduler.to_queues.release_s scheduler.to_workers.released)

# --journal: the same runs against journaled managers (always, interval), the
# fdatasync floor, and the two start-up figures, shrunk.
set(BENCH_ARGS --jobs 2000 --latency-jobs 200 --workers 2 --slots 4 --window 32 --journal --journal-queued 2000
  --journal-finished 5000)
run_bench(9 mode phase)
