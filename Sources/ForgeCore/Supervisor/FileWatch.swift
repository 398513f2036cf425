/// `--watch`: which types a changed file restarts. Directories under each pattern's base are
/// watched with inotify, recursively, including directories created later; version-control,
/// dependency and build folders and forge's own files are left out. Changes are debounced for
/// 200 ms, then each type with a matching change is restarted once (the same rolling,
/// readiness-gated replacement as `forge restart`).
final class FileWatch {
  static let debounce: Deadline = 200_000_000
  static let skippedDirectories: Set = [".git", "node_modules", "__pycache__", ".build"]
  static let skippedFiles: Set = [".forge.sock", ".forge.notify", ".forge.state"]

  let inotify: Inotify
  private let root: String
  private let patterns: [(type: String, globs: [Glob])]
  /// Watch descriptor → directory relative to the root.
  private var directories: [Int32: String] = [:]
  private var watched: Set<String> = []
  /// The first file that changed for each type since its last restart, and when to act.
  private(set) var pending: [String: String] = [:]
  private var pendingOrder: [String] = []
  private(set) var dueAt: Deadline?
  private(set) var notices: [String] = []

  init(root: String, settings: WatchSettings, types: [String]) throws(SystemError) {
    inotify = try Inotify()
    self.root = root
    patterns = types.compactMap { type in settings.perType[type].map { (type, $0) } }
    for (type, globs) in patterns {
      var needed = 0
      do {
        for glob in globs {
          let base = glob.base
          for relative in listDirectories(under: join(base), skip: Self.skip) {
            let path = [base, relative].filter { !$0.isEmpty }.joined(separator: "/")
            needed += 1
            try add(path)
          }
        }
      } catch {
        let limit = Inotify.watchLimit().map(String.init) ?? "?"
        notices.append(
          "not watching \(type): \(error) (/proc/sys/fs/inotify/max_user_watches is \(limit); "
            + "\(watched.count + max(0, needed - 1)) or more watches needed)")
      }
    }
  }

  private static func skip(_ name: String) -> Bool { skippedDirectories.contains(name) || name.hasPrefix(".build") }

  private func join(_ relative: String) -> String { relative.isEmpty ? root : root + "/" + relative }

  private func add(_ relative: String) throws(SystemError) {
    guard !watched.contains(relative) else { return }
    let watch = try inotify.watch(directory: join(relative))
    directories[watch] = relative
    watched.insert(relative)
  }

  func takeNotices() -> [String] {
    defer { notices = [] }
    return notices
  }

  /// The kernel reported changes: note which types they concern.
  func readable(now: Deadline) {
    for event in inotify.read() {
      guard let directory = directories[event.watch], !event.name.isEmpty else { continue }
      let path = directory.isEmpty ? event.name : directory + "/" + event.name
      if event.isDirectory {
        guard !Self.skip(event.name) else { continue }
        // A new directory (made, or moved in): watch it and what it holds, and count the
        // files already in it as changes: they may have been written before the watch was.
        for relative in listDirectories(under: join(path), skip: Self.skip) {
          try? add(relative.isEmpty ? path : path + "/" + relative)
        }
        for file in listFiles(under: join(path), skip: Self.skip) { changed(path + "/" + file, now: now) }
        continue
      }
      if Self.skippedFiles.contains(event.name) { continue }
      changed(path, now: now)
    }
  }

  private func changed(_ path: String, now: Deadline) {
    for (type, globs) in patterns where pending[type] == nil && globs.contains(where: { $0.matches(path) }) {
      pending[type] = path
      pendingOrder.append(type)
    }
    if !pending.isEmpty { dueAt = now &+ Self.debounce }
  }

  /// The types to restart now, with the file that changed; `busy` types keep waiting
  /// (a restart under way: one more follows at its end).
  func take(now: Deadline, busy: (String) -> Bool) -> [(type: String, path: String)] {
    guard let due = dueAt, due <= now else { return [] }
    var ready: [(String, String)] = []
    for type in pendingOrder where !busy(type) {
      if let path = pending.removeValue(forKey: type) { ready.append((type, path)) }
    }
    pendingOrder.removeAll { pending[$0] == nil }
    dueAt = pending.isEmpty ? nil : now &+ Self.debounce
    return ready
  }
}
