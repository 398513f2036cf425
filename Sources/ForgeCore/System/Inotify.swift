import CGlibcLinux
import Glibc

/// inotify(7) watches on directories, for `--watch`. Nothing is polled: the event loop sleeps
/// until the kernel reports a change.
final class Inotify {
  struct Event {
    let watch: Int32
    let mask: UInt32
    let name: String

    var isDirectory: Bool { mask & UInt32(IN_ISDIR) != 0 }
    var isOverflow: Bool { mask & UInt32(IN_Q_OVERFLOW) != 0 }
  }

  let fd: FileDescriptor

  init() throws(SystemError) {
    let raw = try retryingEINTR("inotify_init1") { inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC)) }
    fd = FileDescriptor(raw)
  }

  /// Watches one directory (not recursively) for what changes files in it.
  func watch(directory path: String) throws(SystemError) -> Int32 {
    let mask =
      IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB | IN_MODIFY | IN_ONLYDIR
      | IN_DONT_FOLLOW | IN_EXCL_UNLINK
    return try retryingEINTR("inotify_add_watch", path: path) { inotify_add_watch(fd.raw, path, UInt32(mask)) }
  }

  /// Every event queued now.
  func read() -> [Event] {
    var events: [Event] = []
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
      guard let count = try? fd.read(into: &buffer), count > 0 else { return events }
      var offset = 0
      let header = MemoryLayout<inotify_event>.size
      while offset + header <= count {
        let (watch, mask, length) = buffer.withUnsafeBytes { raw in
          let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
          return (event.wd, event.mask, Int(event.len))
        }
        let nameBytes = buffer[(offset + header)..<min(count, offset + header + length)].prefix { $0 != 0 }
        events.append(Event(watch: watch, mask: mask, name: String(decoding: nameBytes, as: UTF8.self)))
        offset += header + length
      }
    }
  }

  /// The per-user limit, for the message when it is reached.
  static func watchLimit() -> Int? {
    guard let text = try? Files.read("/proc/sys/fs/inotify/max_user_watches") else { return nil }
    return Int(String(decoding: text, as: UTF8.self).trimmingBlanks())
  }
}

/// Every directory under `root` (relative paths, "" for root itself), not descending into
/// those `skip` names.
func listDirectories(under root: String, skip: (String) -> Bool) -> [String] {
  var found: [String] = []
  var pending = [""]
  while let relative = pending.popLast() {
    found.append(relative)
    let path = relative.isEmpty ? root : root + "/" + relative
    for entry in Files.entries(in: path) ?? [] where entry.isDirectory && !skip(entry.name) {
      pending.append(relative.isEmpty ? entry.name : relative + "/" + entry.name)
    }
  }
  return found
}

/// Every regular file under `root` (relative paths), not descending into those `skip` names.
func listFiles(under root: String, skip: (String) -> Bool) -> [String] {
  var found: [String] = []
  for directory in listDirectories(under: root, skip: skip) {
    let path = directory.isEmpty ? root : root + "/" + directory
    guard let names = Files.regularFiles(in: path) else { continue }
    for name in names { found.append(directory.isEmpty ? name : directory + "/" + name) }
  }
  return found
}
