import CGlibcLinux
import Glibc

/// Monotonic time in nanoseconds: deadlines and uptimes never jump with the wall clock.
enum Clock {
  static func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
  }

  static func nanoseconds(seconds: Double) -> UInt64 {
    seconds <= 0 ? 0 : UInt64(seconds * 1_000_000_000)
  }

  /// Wall-clock time as (seconds since the epoch, milliseconds).
  static func wall() -> (seconds: Int, milliseconds: Int) {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return (ts.tv_sec, ts.tv_nsec / 1_000_000)
  }
}
