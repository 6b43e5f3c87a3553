# Loaded by the Sidekiq server that bench/peers/sidekiq/run.rb starts (`sidekiq -r THIS_FILE`).
# Two no-op jobs that only record timestamps, like `spool bench`'s NoopJob and LatencyJob:
#
#   NoopJob(index)                  W3: counts itself; when the count reaches BENCH_JOBS it notes
#                                   the time (the last job's finish)
#   LatencyJob(index, enqueued_ns)  W4: records start - enqueued_ns (CLOCK_MONOTONIC, which is
#                                   system-wide on Linux, so the producer's clock is the same)
#
# On startup (Sidekiq's :startup event, fired right before the launcher starts its fetchers, as
# `spool bench` reads its clock right before Worker.run) it writes BENCH_OUT.ready with the time.
# When BENCH_JOBS jobs have run it writes BENCH_OUT (JSON, written to a temporary name and
# renamed, so the reader never sees half a file).
require "json"
require "logger"
require "sidekiq"

# Debian pairs Sidekiq 6.4 with redis-rb 4.8, which prints a deprecation warning on stderr for
# every BRPOP and SADD Sidekiq sends: thousands of lines per run, and time spent writing them.
Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)

module Bench
  JOBS = Integer(ENV.fetch("BENCH_JOBS"))
  OUT = ENV["BENCH_OUT"] # nil on the client side, which only enqueues
  LOCK = Mutex.new
  @count = 0
  @indexes = Hash.new(0)
  @latencies = []
  @started_ns = nil

  def self.now_ns
    Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond)
  end

  def self.write(path, object)
    File.write("#{path}.tmp", JSON.generate(object))
    File.rename("#{path}.tmp", path)
  end

  def self.startup
    @started_ns = now_ns
    write("#{OUT}.ready", { "started_ns" => @started_ns })
  end

  # Called by every job; `latency_ns` is nil for W3's no-ops.
  def self.ran(index, latency_ns = nil)
    done = nil
    LOCK.synchronize do
      @count += 1
      @indexes[index] += 1
      @latencies << latency_ns if latency_ns
      done = now_ns if @count == JOBS
    end
    return unless done
    write(OUT, {
      "started_ns" => @started_ns, "done_ns" => done, "count" => @count,
      "distinct" => @indexes.size, "twice" => @indexes.count { |_, n| n > 1 },
      "latencies_ns" => @latencies
    })
  end
end

class NoopJob
  include Sidekiq::Job
  sidekiq_options retry: false

  def perform(index)
    Bench.ran(index)
  end
end

class LatencyJob
  include Sidekiq::Job
  sidekiq_options retry: false

  def perform(index, enqueued_ns)
    Bench.ran(index, Bench.now_ns - enqueued_ns)
  end
end

Sidekiq.configure_server do |config|
  # Spool's bench worker logs warnings only; Sidekiq logs two lines per job at INFO.
  config.logger.level = Logger::WARN
  config.on(:startup) { Bench.startup }
end
