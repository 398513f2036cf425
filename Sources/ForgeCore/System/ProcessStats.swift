import Glibc

/// CPU time, memory and threads of whole process groups, from /proc: a shell wrapper or a
/// gunicorn with its workers counts as one instance.
struct GroupUsage: Equatable {
  var cpuSeconds = 0.0
  var residentBytes = 0
  var threads = 0
}

enum ProcessStats {
  static let ticksPerSecond = Double(max(1, sysconf(Int32(_SC_CLK_TCK))))
  static let pageSize = max(4096, sysconf(Int32(_SC_PAGESIZE)))
  /// The CPUs this host has online: no group can use more than all of them.
  static let processors = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))

  /// Usage summed per process group, for the groups asked about; one pass over /proc.
  /// CPU time counts each member's own and that of the children it has reaped (cutime,
  /// cstime): when a worker exits and its parent reaps it, its time moves to the parent and the
  /// group's total does not drop.
  static func usage(ofGroups groups: Set<Int32>) -> [Int32: GroupUsage] {
    guard !groups.isEmpty else { return [:] }
    var result: [Int32: GroupUsage] = [:]
    var ticks: [Int32: Int] = [:]
    for pid in Files.processIDs() {
      guard let stat = try? Files.read("/proc/\(pid)/stat"),
        let fields = fields(of: stat), fields.count > 21, let group = Int32(fields[2]), groups.contains(group)
      else { continue }
      var usage = result[group] ?? GroupUsage()
      ticks[group, default: 0] += fields[11...14].reduce(0) { $0 + (Int($1) ?? 0) }
      usage.threads += Int(fields[17]) ?? 0
      usage.residentBytes += (Int(fields[21]) ?? 0) * pageSize
      result[group] = usage
    }
    for (group, count) in ticks { result[group]?.cpuSeconds = Double(count) / ticksPerSecond }
    return result
  }

  /// forge's own usage.
  static func own() -> GroupUsage {
    guard let stat = try? Files.read("/proc/self/stat"), let fields = fields(of: stat), fields.count > 21 else {
      return GroupUsage()
    }
    return GroupUsage(
      cpuSeconds: Double((Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)) / ticksPerSecond,
      residentBytes: (Int(fields[21]) ?? 0) * pageSize, threads: Int(fields[17]) ?? 0)
  }

  /// The fields after `(comm)`: state is [0], ppid [1], pgrp [2], utime [11], stime [12],
  /// cutime [13], cstime [14], num_threads [17], starttime [19], rss [21] (proc(5), counted
  /// from state).
  static func fields(of stat: [UInt8]) -> [String]? {
    guard let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
    return stat[(close + 1)...].split(separator: UInt8(ascii: " ")).map { String(decoding: $0, as: UTF8.self) }
  }
}
