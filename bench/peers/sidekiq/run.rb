# Sidekiq's W3 and W4, defined as in docs/benchmarks.md, through Sidekiq's documented API.
#
#   ruby run.rb w3 REDIS_URL [JOBS] [CONCURRENCY]   default 10000 jobs, concurrency 100
#   ruby run.rb w4 REDIS_URL [JOBS] [CONCURRENCY]   default 2000 jobs (200/s for 10 s), 10
#
# W3: Sidekiq::Client.push_bulk enqueues JOBS no-op NoopJobs (1,000 per call), then a Sidekiq
# server process (`sidekiq -r jobs.rb -c CONCURRENCY`) starts; the figure is JOBS over the time
# from its :startup event to the last job's finish, both read inside the server.
# W4: the server starts first; once it is up, this process enqueues one LatencyJob every 5 ms
# with perform_async (deadline-based, so the rate does not drift), each carrying its
# CLOCK_MONOTONIC time taken right before the call; the job records start - enqueue.
#
# REDIS_URL should name a database of its own (the harness uses /1): it is flushed before and
# after the run. Prints one JSON object on stdout; Sidekiq's own output goes to stderr.
require "json"
require "tmpdir"
require "sidekiq"

workload, url, jobs_arg, concurrency_arg = ARGV
abort "usage: ruby run.rb w3|w4 REDIS_URL [JOBS] [CONCURRENCY]" unless %w[w3 w4].include?(workload) && url
w3 = workload == "w3"
JOBS = Integer(jobs_arg || (w3 ? 10_000 : 2_000))
CONCURRENCY = Integer(concurrency_arg || (w3 ? 100 : 10))
INTERVAL_NS = 5_000_000 # W4: one job every 5 ms
ENV["REDIS_URL"] = url
ENV["BENCH_JOBS"] = JOBS.to_s
require_relative "jobs" # the job classes, for the client side

def now_ns = Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond)

# Waits (bounded) until `path` exists, or the server has exited; returns its JSON.
def wait_for(path, pid, limit_s, what)
  deadline = now_ns + limit_s * 1_000_000_000
  until File.exist?(path)
    abort "sidekiq: the server exited before #{what}" if Process.waitpid(pid, Process::WNOHANG)
    abort "sidekiq: timed out after #{limit_s} s waiting for #{what}" if now_ns > deadline
    sleep 0.005
  end
  JSON.parse(File.read(path))
end

# Nearest-rank percentile, as `spool bench` computes it.
def percentile(p, sorted)
  rank = (p / 100.0 * sorted.size).ceil
  sorted[[[rank - 1, 0].max, sorted.size - 1].min]
end

Sidekiq.redis(&:flushdb)
Dir.mktmpdir("sidekiq-bench") do |dir|
  out = File.join(dir, "result.json")
  ENV["BENCH_OUT"] = out
  server = nil
  begin
    if w3
      (0...JOBS).each_slice(1_000) do |slice|
        Sidekiq::Client.push_bulk("class" => NoopJob, "queue" => "bench", "args" => slice.map { |i| [i] })
      end
    end
    server = Process.spawn("sidekiq", "-r", File.expand_path("jobs.rb", __dir__), "-c", CONCURRENCY.to_s,
                           "-q", "bench", "-t", "5", out: $stderr, err: $stderr)
    wait_for("#{out}.ready", server, 60, "the server to start")
    unless w3
      sleep 1 # the fetcher threads start right after :startup; let them reach their first BRPOP
      start = now_ns
      JOBS.times do |index|
        wait = start + index * INTERVAL_NS - now_ns
        sleep(wait / 1e9) if wait > 0
        LatencyJob.set(queue: "bench").perform_async(index, now_ns)
      end
    end
    result = wait_for(out, server, 60 + JOBS / 10_000 + (w3 ? 0 : JOBS / 200), "all #{JOBS} jobs")
  ensure
    if server
      Process.kill("TERM", server) rescue nil
      waited = 0
      until Process.waitpid(server, Process::WNOHANG)
        waited += 1
        Process.kill("KILL", server) if waited == 1_000 # 10 s
        sleep 0.01
      end
    end
    Sidekiq.redis(&:flushdb)
  end

  figures = { "peer" => "sidekiq", "version" => Sidekiq::VERSION, "workload" => workload.upcase,
              "jobs" => JOBS, "concurrency" => CONCURRENCY,
              "lost" => JOBS - result["distinct"], "twice" => result["twice"] }
  if w3
    figures["jobs_per_s"] = JOBS / ((result["done_ns"] - result["started_ns"]) / 1e9)
  else
    sorted = result["latencies_ns"].map { |ns| ns / 1e6 }.sort
    figures.merge!("p50_ms" => percentile(50, sorted), "p99_ms" => percentile(99, sorted),
                   "p999_ms" => percentile(99.9, sorted), "max_ms" => sorted.last)
  end
  puts JSON.generate(figures)
end
