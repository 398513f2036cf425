import CGlibcLinux
import Glibc

/// forge's own code, once start-up is over.
///
/// Reading settings, parsing, spawning and the first log lines run code the idle loop never
/// runs again, yet the kernel keeps every page it faulted in (64 KiB at a time) mapped:
/// about 4 MiB of a 7 MiB binary. Those pages are clean copies of the executable file, so
/// they can be dropped from forge's mappings (MADV_DONTNEED) and are read back from the page
/// cache if ever needed again. Only the read-only, executable mapping that holds this code is
/// touched; written pages (data, relocations) are in other mappings and are never dropped.
enum CodePages {
  static func releaseStartupPages() {
    guard let maps = try? Files.read("/proc/self/maps") else { return }
    let here = UInt(bitPattern: cglibc_code_address())
    for line in maps.split(separator: 0x0A) {
      // "start-end perms offset device inode path"
      let fields = line.split(separator: 0x20, maxSplits: 2)
      guard fields.count >= 2, fields[1].elementsEqual("r-xp".utf8),
        let dash = fields[0].firstIndex(of: UInt8(ascii: "-")),
        let start = UInt(String(decoding: fields[0][..<dash], as: UTF8.self), radix: 16),
        let end = UInt(String(decoding: fields[0][(dash + 1)...], as: UTF8.self), radix: 16),
        start <= here, here < end
      else { continue }
      _ = madvise(UnsafeMutableRawPointer(bitPattern: start), Int(end - start), MADV_DONTNEED)
      return
    }
  }
}
