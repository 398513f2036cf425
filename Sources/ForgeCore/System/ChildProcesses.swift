import CGlibcLinux
import Glibc

/// forge's living children, read from /proc: at the end of a stop these are the processes
/// left outside the formation's groups (orphans adopted by forge, the child subreaper).
struct ChildProcess: Equatable {
  let pid: Int32
  let group: Int32
  let command: String

  /// "4301 (sleep)", as named in the log.
  var label: String { "\(pid) (\(command))" }

  static func list(parent: Int32 = getpid()) -> [ChildProcess] {
    guard let pids = childPIDs(of: parent) else { return scan(parent: parent) }
    return pids.sorted().compactMap { pid in
      guard let stat = try? Files.read("/proc/\(pid)/stat"), let child = parse(stat: stat, pid: pid),
        child.parent == parent, !child.zombie
      else { return nil }
      return ChildProcess(pid: pid, group: child.group, command: child.command)
    }
  }

  /// The children of every thread of `parent`, from /proc/PID/task/TID/children: a file or
  /// two, where walking /proc reads the stat of every process on the host. nil where the
  /// kernel lacks those files (CONFIG_PROC_CHILDREN).
  private static func childPIDs(of parent: Int32) -> [Int32]? {
    guard let tasks = Files.entries(in: "/proc/\(parent)/task") else { return nil }
    var pids: [Int32] = []
    for task in tasks {
      guard let listed = try? Files.read("/proc/\(parent)/task/\(task.name)/children") else { return nil }
      pids += listed.split(separator: 0x20).compactMap { Int32(String(decoding: $0, as: UTF8.self)) }
    }
    return pids
  }

  /// Every process whose parent is `parent`, by walking /proc.
  private static func scan(parent: Int32) -> [ChildProcess] {
    var children: [ChildProcess] = []
    for pid in Files.processIDs() {
      guard pid > 1, let stat = try? Files.read("/proc/\(pid)/stat"), let child = parse(stat: stat, pid: pid)
      else { continue }
      if child.parent == parent && !child.zombie {
        children.append(ChildProcess(pid: pid, group: child.group, command: child.command))
      }
    }
    return children.sorted { $0.pid < $1.pid }
  }

  /// `pid (comm) state ppid pgrp …`; comm may hold spaces and parentheses, so the fields
  /// after it are found from the last ')'.
  static func parse(stat: [UInt8], pid: Int32) -> (command: String, zombie: Bool, parent: Int32, group: Int32)? {
    guard let open = stat.firstIndex(of: UInt8(ascii: "(")), let close = stat.lastIndex(of: UInt8(ascii: ")")),
      open < close
    else { return nil }
    let command = String(decoding: stat[(open + 1)..<close], as: UTF8.self)
    let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
    guard fields.count >= 3, let state = fields[0].first,
      let parent = Int32(String(decoding: fields[1], as: UTF8.self)),
      let group = Int32(String(decoding: fields[2], as: UTF8.self))
    else { return nil }
    return (command, state == UInt8(ascii: "Z") || state == UInt8(ascii: "X"), parent, group)
  }
}
