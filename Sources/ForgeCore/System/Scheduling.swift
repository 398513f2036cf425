import CGlibcLinux

/// How a viewer of the formation (`forge logs -f`, `forge events`) shares the CPU with it.
enum Scheduling {
  /// A viewer runs at a lower priority (nice + 10) than the formation it watches: on a busy
  /// host forge and the processes get the CPU first, and a viewer that falls behind loses
  /// lines (and is told how many) instead of slowing the log path. On an idle host it makes
  /// no difference. Best effort.
  static func yieldToFormation() {
    _ = cglibc_lower_own_priority(10)
  }
}
