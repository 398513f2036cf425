import Glibc

/// Wall-clock formatting with the C library (no Foundation).
enum WallTime {
  /// "HH:MM:SS" in local time, as foreman prints it.
  static func localTimeOfDay(_ seconds: Int) -> String {
    var time = time_t(seconds)
    var parts = tm()
    localtime_r(&time, &parts)
    return two(parts.tm_hour) + ":" + two(parts.tm_min) + ":" + two(parts.tm_sec)
  }

  /// RFC 3339 in UTC with milliseconds: "2026-11-22T10:00:00.123Z".
  static func rfc3339(_ seconds: Int, _ milliseconds: Int) -> String {
    var time = time_t(seconds)
    var parts = tm()
    gmtime_r(&time, &parts)
    let millis = String(milliseconds)
    return String(parts.tm_year + 1900) + "-" + two(parts.tm_mon + 1) + "-" + two(parts.tm_mday) + "T"
      + two(parts.tm_hour) + ":" + two(parts.tm_min) + ":" + two(parts.tm_sec) + "."
      + String(repeating: "0", count: 3 - millis.count) + millis + "Z"
  }

  private static func two(_ value: Int32) -> String {
    value < 10 ? "0" + String(value) : String(value)
  }
}
