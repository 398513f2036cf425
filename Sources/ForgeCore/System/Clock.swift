import CGlibcLinux
import Glibc

/// Monotonic time in nanoseconds: deadlines and uptimes never jump with the wall clock.
enum Clock {
  static func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
  }

  /// Seconds as nanoseconds, saturating: settings are capped, but a trap here would take
  /// PID 1 and the whole container down.
  static func nanoseconds(seconds: Double) -> UInt64 {
    guard seconds > 0 else { return 0 }
    guard seconds < 1e9 else { return 1_000_000_000 * 1_000_000_000 }
    return UInt64(seconds * 1_000_000_000)
  }

  /// Wall-clock time as (seconds since the epoch, milliseconds).
  static func wall() -> (seconds: Int, milliseconds: Int) {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return (ts.tv_sec, ts.tv_nsec / 1_000_000)
  }
}
