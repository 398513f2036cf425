import CGlibcLinux
import Glibc

/// Whole-file reads for configuration: Procfiles and env files are small.
enum Files {
  static func read(_ path: String) throws(SystemError) -> [UInt8] {
    let raw = try retryingEINTR("open", path: path) { cglibc_open(path, O_RDONLY | O_CLOEXEC, 0) }
    let fd = FileDescriptor(raw)
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
      guard let n = try fd.read(into: &chunk), n > 0 else { break }
      bytes.append(contentsOf: chunk[0..<n])
    }
    return bytes
  }

  static func processID() -> Int32 { getpid() }

  @discardableResult
  static func changeDirectory(_ path: String) -> Bool { chdir(path) == 0 }

  /// The path of forge's own binary (to run itself as a probe).
  static func currentExecutable() -> String {
    var buffer = [UInt8](repeating: 0, count: 4096)
    let n = buffer.withUnsafeMutableBytes { raw in
      readlink("/proc/self/exe", raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count)
    }
    return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : "/proc/self/exe"
  }

  /// The entries of a directory but "." and "..", each with whether it is a directory (as
  /// the file system's d_type says); nil if it cannot be opened.
  static func entries(in directory: String) -> [(name: String, isDirectory: Bool)]? {
    guard let handle = opendir(directory) else { return nil }
    defer { closedir(handle) }
    var entries: [(String, Bool)] = []
    while let entry = readdir(handle) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
      }
      if name != "." && name != ".." { entries.append((name, entry.pointee.d_type == UInt8(DT_DIR))) }
    }
    return entries
  }

  /// Every process id in /proc (those of this PID namespace).
  static func processIDs() -> [Int32] {
    (entries(in: "/proc") ?? []).compactMap { Int32($0.name) }
  }

  /// The names of the regular files in a directory (symbolic links followed, as Kubernetes
  /// secret volumes use them), sorted; nil if it cannot be read. Hidden names (Kubernetes'
  /// `..data`) and other kinds of entry (directories, FIFOs) are left out; an entry that cannot
  /// be examined (a dangling link) is kept, so that reading it reports the problem.
  static func regularFiles(in directory: String) -> [String]? {
    entries(in: directory)?.map(\.name).filter { name in
      var info = stat()
      return !name.hasPrefix(".") && (stat(directory + "/" + name, &info) != 0 || (info.st_mode & S_IFMT) == S_IFREG)
    }.sorted()
  }

  /// Configuration (a Procfile, an env file, a secret): a regular file of at most `limit`
  /// bytes. Opened without blocking, so a FIFO named by mistake cannot hang forge, and bounded,
  /// so `-f /dev/zero` cannot fill memory.
  static func readConfiguration(_ path: String, limit: Int = 1 << 20) throws(ConfigurationReadError) -> [UInt8] {
    let raw = cglibc_open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0)
    guard raw >= 0 else { throw .system(SystemError(operation: "open", errno: cglibc_errno(), path: path)) }
    let fd = FileDescriptor(raw)
    var info = stat()
    guard fstat(raw, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { throw .notRegular }
    guard Int(info.st_size) <= limit else { throw .tooLarge(limit) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while bytes.count <= limit {
      do {
        guard let n = try fd.read(into: &chunk), n > 0 else { break }
        bytes.append(contentsOf: chunk[0..<n])
      } catch {
        throw .system(error)
      }
    }
    guard bytes.count <= limit else { throw .tooLarge(limit) }
    return bytes
  }

  enum ConfigurationReadError: Error {
    case system(SystemError)
    case notRegular
    case tooLarge(Int)
  }

  static func exists(_ path: String) -> Bool {
    access(path, F_OK) == 0
  }

  static func isDirectory(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
  }

  static func currentDirectory() -> String {
    var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
    let found = buffer.withUnsafeMutableBytes { raw in
      getcwd(raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count) != nil
    }
    guard found, let end = buffer.firstIndex(of: 0) else { return "." }
    return String(decoding: buffer[..<end], as: UTF8.self)
  }

  /// Writes a whole file, replacing it, with the given mode.
  static func write(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(SystemError) {
    let raw = try retryingEINTR("open", path: path) {
      cglibc_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    }
    let fd = FileDescriptor(raw)
    _ = fchmod(fd.raw, mode)
    try fd.writeAll(bytes)
  }

  static func makeDirectory(_ path: String) throws(SystemError) {
    if isDirectory(path) { return }
    var prefix = path.hasPrefix("/") ? "/" : ""
    for part in path.split(separator: "/") {
      prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + part
      if isDirectory(prefix) { continue }
      if mkdir(prefix, 0o755) != 0 && cglibc_errno() != EEXIST {
        throw SystemError(operation: "mkdir", errno: cglibc_errno(), path: prefix)
      }
    }
  }
}

/// The process environment as ordered key/value pairs.
enum ProcessEnvironment {
  static func remove(_ key: String) {
    _ = unsetenv(key)
  }

  static func current() -> [(key: String, value: String)] {
    var result: [(String, String)] = []
    guard var cursor = cglibc_environ() else { return [] }
    while let entry = cursor.pointee {
      let text = String(cString: entry)
      if let eq = text.firstIndex(of: "=") {
        result.append((String(text[..<eq]), String(text[text.index(after: eq)...])))
      }
      cursor += 1
    }
    return result
  }
}

/// Limits the kernel sets.
enum SystemLimits {
  /// ARG_MAX: arguments and environment of one process, together.
  static var argumentBytes: Int { max(32 * 1024, sysconf(Int32(_SC_ARG_MAX))) }
}
