import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

// Helpers for FaultInjectionTests: forge started under a shell that changes its limits first,
// forge's own resource use read from /proc, and forge's stdout taken apart as raw bytes (for
// output that is not text).

// MARK: - forge under a shell

extension ForgeControlTestCase {
  /// Starts `sh -c '<setup>; exec forge <arguments>'` in `project`: the shell sets limits
  /// (`ulimit -n 20`) and then becomes forge, so the returned process's pid is forge's.
  func launchForge(
    after setup: String, _ arguments: [String], in project: ForgeProject, environment extra: [String: String] = [:]
  ) throws -> ForgeProcess {
    let forge = try ForgeHarness.forgeBinary()
    let command = "\(setup); exec \(([forge] + arguments).map(shellQuoted).joined(separator: " "))"
    return try launchProgram("/bin/sh", ["-c", command], in: project, environment: extra)
  }
}

/// `text` as one word for /bin/sh.
func shellQuoted(_ text: String) -> String {
  "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// What kind of forge binary is under test.
enum ForgeBuild {
  /// Whether the binary carries AddressSanitizer (`swift build --sanitize=address`), whose
  /// allocator keeps several MiB more resident than the C library's.
  static let isAddressSanitized: Bool = {
    guard let path = try? ForgeHarness.forgeBinary(), let data = FileManager.default.contents(atPath: path) else {
      return false
    }
    return data.range(of: Data("__asan_init".utf8)) != nil
  }()
}

// MARK: - /proc figures

enum ProcUsage {
  /// A `kB` field of /proc/PID/status (`VmRSS`, `VmHWM`) in bytes, or nil.
  static func statusBytes(_ field: String, of pid: pid_t) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
      let number = line.dropFirst(field.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first
      return number.flatMap { Int($0) }.map { $0 * 1024 }
    }
    return nil
  }

  /// User plus system CPU time of `pid` in clock ticks (fields 14 and 15 of /proc/PID/stat).
  static func cpuTicks(_ pid: pid_t) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let close = text.lastIndex(of: ")")
    else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
    return user + system
  }

  /// One line about `pid` for a failure message: pid, parent, group, state, signal masks
  /// (blocked, ignored, pending) and command line.
  static func describe(_ pid: pid_t) -> String {
    let stat = ProcFS.stat(pid)
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    let masks = status.split(separator: "\n").filter {
      ["SigBlk:", "SigIgn:", "SigPnd:", "ShdPnd:"].contains(where: $0.hasPrefix)
    }.map { $0.replacingOccurrences(of: "\t", with: " ") }
    return "\(pid) ppid=\(stat?.ppid ?? 0) pgrp=\(stat?.pgrp ?? 0) state=\(stat.map { String($0.state) } ?? "?") "
      + masks.joined(separator: " ") + " " + ProcFS.commandLine(pid)
  }

  static var ticksPerSecond: Int { sysconf(Int32(_SC_CLK_TCK)) }

  /// How many descriptors `pid` has open.
  static func openDescriptors(_ pid: pid_t) -> Int? {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd"))?.count
  }
}

// MARK: - Raw output

enum RawOutput {
  /// `bytes` split at "\n" (a final piece without "\n" is kept).
  static func lines(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
    bytes.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast(bytes.last == 0x0A ? 1 : 0)
  }

  /// The lines printed under `prefix` (`"blob.1 | "`, padding included), prefix removed.
  static func lines(_ bytes: [UInt8], under prefix: String) -> [ArraySlice<UInt8>] {
    let head = Array(prefix.utf8)
    return lines(bytes).filter { $0.starts(with: head) }.map { $0.dropFirst(head.count) }
  }

  /// Deterministic bytes with every value except "\n": NUL, "\r", lone UTF-8 lead and
  /// continuation bytes, 0xFF, and runs of plain text between them.
  static func hostileBytes(count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
    var state = seed
    var out: [UInt8] = []
    out.reserveCapacity(count)
    while out.count < count {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      let byte = UInt8(truncatingIfNeeded: state >> 56)
      switch byte % 8 {
      case 0: out.append(0x00)
      case 1: out.append(0x0D)
      case 2: out.append(0xC3)  // a lead byte, usually without its continuation
      case 3: out.append(0xFF)
      default: out.append(byte == 0x0A ? 0x0B : byte)
      }
    }
    return out
  }
}
