/// CPU and memory of each instance's process group for `forge ps`, `forge top` and the
/// metrics. CPU% is the change of CPU time between two samples, so a sample is taken only when
/// someone asks: an idle forge reads nothing.
final class ResourceSampler {
  struct Sample {
    let at: Deadline
    let groups: [Int32: GroupUsage]
    let own: GroupUsage
  }

  /// A comparison needs samples at least this far apart, and no further than `staleAfter`.
  static let shortestInterval: Deadline = 200_000_000
  static let staleAfter: Deadline = 5_000_000_000

  private(set) var latest: Sample?
  private(set) var previous: Sample?

  /// Whether a new sample now can be compared with the latest one.
  func canCompare(now: Deadline) -> Bool {
    guard let latest else { return false }
    let age = now &- latest.at
    return age >= Self.shortestInterval && age <= Self.staleAfter
  }

  func sample(groups: Set<Int32>, now: Deadline) {
    var usage = ProcessStats.usage(ofGroups: groups)
    // A counter never goes back: what a member forge itself reaped (an orphan) leaves the sum.
    for (group, before) in latest?.groups ?? [:] where (usage[group]?.cpuSeconds ?? .infinity) < before.cpuSeconds {
      usage[group]?.cpuSeconds = before.cpuSeconds
    }
    previous = latest
    latest = Sample(at: now, groups: usage, own: ProcessStats.own())
  }

  func usage(of group: Int32) -> GroupUsage? { latest?.groups[group] }

  /// Per instance: its current process group, the CPU time last seen of it, and what the
  /// instance's earlier groups used.
  private var carried: [String: (group: Int32, last: Double, earlier: Double)] = [:]

  /// The CPU time of an instance across its processes (`forge_process_cpu_seconds_total`): a
  /// counter that keeps its value while the instance is down and goes on from there when it
  /// is started again, instead of dropping to 0 while the series is still there.
  func cpuSeconds(ofInstance name: String, group: Int32?) -> Double {
    var entry = carried[name] ?? (group: 0, last: 0, earlier: 0)
    if let group, group != entry.group {
      entry = (group: group, last: 0, earlier: entry.earlier + entry.last)
    }
    if let group, let now = usage(of: group)?.cpuSeconds { entry.last = now }  // `sample` keeps it monotonic
    carried[name] = entry
    return entry.earlier + entry.last
  }

  /// CPU use over the interval between the last two samples, in percent of one core.
  func cpuPercent(of group: Int32) -> Double? {
    guard let latest, let previous, let now = latest.groups[group] else { return nil }
    let before = previous.groups[group]?.cpuSeconds ?? 0
    return percent(now.cpuSeconds - before, latest.at &- previous.at, threads: now.threads)
  }

  var ownCPUPercent: Double? {
    guard let latest, let previous else { return nil }
    return percent(
      latest.own.cpuSeconds - previous.own.cpuSeconds, latest.at &- previous.at, threads: latest.own.threads)
  }

  /// CPU time is counted in clock ticks (10 ms), so over 0.2 s a busy thread can read 105 %:
  /// no more than 100 % per thread, and per CPU of the host, is shown.
  private func percent(_ seconds: Double, _ interval: Deadline, threads: Int) -> Double {
    guard interval > 0 else { return 0 }
    let measured = max(0, (seconds / (Double(interval) / 1e9) * 1000).rounded() / 10)
    let busiest = Double(100 * min(threads > 0 ? threads : Int.max, ProcessStats.processors))
    return min(measured, busiest)
  }
}
