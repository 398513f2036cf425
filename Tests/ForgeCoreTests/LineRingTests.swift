import XCTest

@testable import ForgeCore

/// LineRing keeps lines in runs (one copy per read) and drops a run only once the newer runs
/// alone hold the bound, then picks the newest lines that fit when read. The bookkeeping is
/// easy to get subtly wrong (a line dropped too early, a wrapped run read from the wrong
/// place), so it is checked against a ring that keeps every line and decides what is visible
/// the slow, obvious way.
final class LineRingTests: XCTestCase {
  private struct Line: Equatable, CustomStringConvertible {
    let sequence: UInt64
    let millis: Int64
    let byForge: Bool
    let bytes: [UInt8]

    /// Compares the bytes with `memcmp`: the generic `==` is slow in a debug build.
    static func == (lhs: Line, rhs: Line) -> Bool {
      guard lhs.sequence == rhs.sequence, lhs.millis == rhs.millis, lhs.byForge == rhs.byForge,
        lhs.bytes.count == rhs.bytes.count
      else { return false }
      return lhs.bytes.withUnsafeBytes { a in
        rhs.bytes.withUnsafeBytes { b in a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 }
      }
    }

    var description: String { "#\(sequence) @\(millis)\(byForge ? " forge" : "") \(bytes.count) bytes" }
  }

  /// The naive ring: every line; the visible ones are the newest within both bounds, and the
  /// newest one always.
  private struct Model {
    let maximumLines: Int
    let maximumBytes: Int
    var lines: [Line] = []

    var visible: [Line] {
      var chosen: [Line] = []
      var textBytes = 0
      for line in lines.reversed() {
        guard chosen.count < maximumLines else { break }
        if !chosen.isEmpty && textBytes + line.bytes.count > maximumBytes { break }
        chosen.append(line)
        textBytes += line.bytes.count
      }
      return chosen.reversed()
    }

    mutating func append(_ line: Line) {
      lines.append(line)
      // Only the newest `maximumLines` can ever be visible again.
      if lines.count > 2 * maximumLines + 64 { lines.removeFirst(lines.count - maximumLines) }
    }
  }

  /// Line bytes without "\n" that differ from their neighbours, so a misplaced byte shows:
  /// slices of a fixed pattern at shifting offsets (cheap to make in a debug build).
  private struct Source {
    private static let pattern: [UInt8] = (0..<24 * 1024).map { (index: Int) -> UInt8 in
      UInt8(0x20 + (index * 7 + index / 95) % 95)
    }
    private var next = 0

    mutating func take(_ count: Int) -> [UInt8] {
      let start = next % 2039
      next += count + 1
      return Array(Self.pattern[start..<start + count])
    }
  }

  private static func contents(_ ring: LineRing) -> [Line] {
    var lines: [Line] = []
    ring.visit { record, bytes in
      lines.append(Line(sequence: record.sequence, millis: record.millis, byForge: record.byForge, bytes: Array(bytes)))
    }
    return lines
  }

  private static func powerOfTwo(atLeast value: Int) -> Int {
    var size = 1
    while size < value { size *= 2 }
    return size
  }

  /// The bound on the ring's storage. A run is dropped as soon as the newer runs alone reach
  /// `maximumLines` lines or `maximumBytes` bytes, so the runs after the oldest kept one hold
  /// fewer than `maximumLines` lines and at most `maximumBytes` bytes of text: with their
  /// newlines, under `maximumBytes + maximumLines`. The oldest kept run adds at most the
  /// largest run ever appended (16 KiB for a run, `maximumBytes + 1` for a single line).
  /// Storage grows (before the copy) to the first power of two of at least 16 KiB that holds
  /// the kept runs, and never shrinks. With runs of at most 16 KiB and single lines of at
  /// most 20001 bytes here, this is within maximumBytes + maximumLines + 2 × 16 KiB.
  private static func storageBound(maximumLines: Int, maximumBytes: Int, largestRun: Int) -> Int {
    powerOfTwo(atLeast: max(16 * 1024, maximumBytes + maximumLines + largestRun))
  }

  /// A line length: mostly around the seed's scale, sometimes empty; with a larger scale, now
  /// and then long, or at (or just past) the byte bound, where a line alone fills it. (Seeds
  /// with short lines only stay cheap to read, so they run long enough to compact the runs.)
  private static func length(scale: Int, bound: Int, using random: inout SeededGenerator) -> Int {
    switch (Int.random(in: 0..<20, using: &random), scale >= 200) {
    case (0..<3, _): return 0
    case (3, true): return Int.random(in: 1...6000, using: &random)
    case (4, true): return bound + (Bool.random(using: &random) ? 0 : Int.random(in: 1...64, using: &random))
    default: return Int.random(in: 1...scale, using: &random)
    }
  }

  /// Seeded random single lines (some by forge, some longer than the byte bound) and runs
  /// (up to 16 KiB, as LineRun makes them), checked against the model after every step.
  /// `FORGE_RING_SEEDS=N` runs seeds 1…N, `FORGE_RING_SEED=S` replays one.
  func testRandomAppendsMatchANaiveRing() {
    let environment = ProcessInfo.processInfo.environment
    if let text = environment["FORGE_RING_SEED"], !text.isEmpty {
      guard let seed = UInt64(text) else { return XCTFail("FORGE_RING_SEED=\(text) is not a number") }
      var coverage = Coverage()
      if let failure = Self.run(seed: seed, &coverage) { XCTFail(failure) }
      return
    }
    let count = environment["FORGE_RING_SEEDS"].flatMap { UInt64($0) } ?? Self.defaultSeeds
    var coverage = Coverage()
    var failing: [UInt64] = []
    for seed in 1...max(count, 1) {
      guard let failure = Self.run(seed: seed, &coverage) else { continue }
      XCTFail(failure)
      failing.append(seed)
      if failing.count == 10 { break }
    }
    XCTAssert(failing.isEmpty, "failing seeds (the first 10): \(failing)")
    XCTAssertGreaterThan(coverage.byteBound, 100, "steps where the byte bound chose the lines")
    XCTAssertGreaterThan(coverage.lineBound, 100, "steps where the line bound chose the lines")
  }

  private static let defaultSeeds: UInt64 = 200
  private static let stepsPerSeed = 200
  /// Reading the ring splits every kept byte with a generic `firstIndex(of:)`, some 70 ns a
  /// byte in a debug build, and once the byte bound is reached that is 4 KiB or more a step.
  /// So a seed stops early once its checks have read this much: seeds with short lines run
  /// most of their steps (and drop enough runs to compact the array), long-line ones 10 to
  /// 30 (enough to wrap and grow the storage). The whole test then takes about 1.5 s.
  private static let readBudget = 48 * 1024

  private struct Coverage {
    var byteBound = 0
    var lineBound = 0
  }

  /// Runs one seed; the first failure, if any.
  private static func run(seed: UInt64, _ coverage: inout Coverage) -> String? {
    var random = SeededGenerator(seed: seed)
    var source = Source()
    let maximumLines = Int.random(in: 1...50, using: &random)
    // Mostly near the smallest bound (it is clamped to 4096), where lines cross it often.
    let maximumBytes = Int.random(in: Bool.random(using: &random) ? 4096...20000 : 4096...5000, using: &random)
    // Short lines stress the line bound, long ones the byte bound and the wrap-around.
    let scale = [16, 40, 200, 1000, 3000].randomElement(using: &random)!
    let ring = LineRing(maximumLines: maximumLines, maximumBytes: maximumBytes)
    var model = Model(maximumLines: maximumLines, maximumBytes: maximumBytes)
    var sequence: UInt64 = 0
    var millis: Int64 = 1_700_000_000_000
    var largestRun = 0
    var read = 0
    for step in 0..<stepsPerSeed where read < readBudget {
      millis += Int64.random(in: 0...5, using: &random)
      if Int.random(in: 0..<5, using: &random) < 2 {
        let line = source.take(length(scale: scale, bound: maximumBytes, using: &random))
        let byForge = Int.random(in: 0..<4, using: &random) == 0
        sequence += 1
        line.withUnsafeBytes { ring.append($0, sequence: sequence, millis: millis, byForge: byForge) }
        let kept = Array(line.prefix(maximumBytes))
        model.append(Line(sequence: sequence, millis: millis, byForge: byForge, bytes: kept))
        largestRun = max(largestRun, kept.count + 1)
      } else {
        // Mostly a few lines, as one read brings; sometimes up to 500, as many as fit in 16 KiB.
        let wanted = Int.random(in: 0..<32, using: &random) == 0 ? 500 : Int.random(in: 1...20, using: &random)
        var buffer: [UInt8] = []
        var lines: [Line] = []
        while lines.count < wanted {
          let line = source.take(length(scale: scale, bound: maximumBytes, using: &random))
          guard lines.isEmpty || buffer.count + line.count + 1 <= 16 * 1024 else { break }
          lines.append(Line(sequence: sequence + 1 + UInt64(lines.count), millis: millis, byForge: false, bytes: line))
          buffer += line
          buffer.append(0x0A)
        }
        buffer.withUnsafeBytes { ring.append(run: $0, lines: lines.count, firstSequence: sequence + 1, millis: millis) }
        sequence += UInt64(lines.count)
        for line in lines { model.append(line) }
        largestRun = max(largestRun, buffer.count)
      }
      let expected = model.visible
      let actual = contents(ring)
      read += expected.reduce(0) { $0 + $1.bytes.count }
      if expected.count < min(maximumLines, model.lines.count) { coverage.byteBound += 1 }
      if expected.count == maximumLines && model.lines.count > maximumLines { coverage.lineBound += 1 }
      let context = "FORGE_RING_SEED=\(seed), step \(step) (lines \(maximumLines), bytes \(maximumBytes))"
      if actual != expected {
        let at =
          (0..<min(actual.count, expected.count)).first { actual[$0] != expected[$0] }
          ?? min(actual.count, expected.count)
        return "\(context): got \(actual.count) lines, expected \(expected.count); they differ at line \(at): "
          + "got \(at < actual.count ? actual[at].description : "none"), "
          + "expected \(at < expected.count ? expected[at].description : "none")"
      }
      let bound = storageBound(maximumLines: maximumLines, maximumBytes: maximumBytes, largestRun: largestRun)
      if ring.storageBytes > bound { return "\(context): storage \(ring.storageBytes) bytes, bound \(bound)" }
    }
    return nil
  }

  /// Forge's own lines (and redacted ones) are appended singly; one past the byte bound
  /// keeps its first `maximumBytes` bytes.
  func testSingleLineLongerThanTheBoundIsTruncated() {
    let ring = LineRing(maximumLines: 10, maximumBytes: 4096)
    let line = [UInt8](repeating: UInt8(ascii: "x"), count: 5000)
    line.withUnsafeBytes { ring.append($0, sequence: 7, millis: 3, byForge: true) }
    let lines = Self.contents(ring)
    XCTAssertEqual(lines.map(\.bytes.count), [4096])
    XCTAssertEqual(lines.first?.sequence, 7)
    XCTAssertEqual(lines.first?.byForge, true)
  }

  /// A line inside a run is not truncated; the newest line is kept whatever its size.
  func testNewestLineIsKeptEvenPastTheByteBound() {
    let ring = LineRing(maximumLines: 10, maximumBytes: 4096)
    let run = Array("old\n".utf8) + [UInt8](repeating: UInt8(ascii: "y"), count: 5000) + [0x0A]
    run.withUnsafeBytes { ring.append(run: $0, lines: 2, firstSequence: 1, millis: 0) }
    XCTAssertEqual(Self.contents(ring).map(\.bytes.count), [5000])
    XCTAssertEqual(Self.contents(ring).map(\.sequence), [2])
  }

  /// An empty line costs no bytes: when the newer lines hold exactly `maximumBytes`, an
  /// older empty line still fits (it is within both bounds), even if it ended an older run.
  func testEmptyLineFitsWhenTheNewerOnesHoldExactlyTheByteBound() {
    let ring = LineRing(maximumLines: 10, maximumBytes: 4096)
    let older = Array("a\n\n".utf8)
    older.withUnsafeBytes { ring.append(run: $0, lines: 2, firstSequence: 1, millis: 0) }
    let newer = [UInt8](repeating: UInt8(ascii: "z"), count: 4096) + [0x0A]
    newer.withUnsafeBytes { ring.append(run: $0, lines: 1, firstSequence: 3, millis: 0) }
    XCTAssertEqual(Self.contents(ring).map(\.sequence), [2, 3], "the empty line #2 fits: 0 + 4096 bytes")
  }

  /// Two rings fed interleaved, some lines in runs and some singly, come back from
  /// `last` in arrival order, with the `count` newest only.
  func testHistoryMergesRingsInArrivalOrder() {
    let history = LogHistory(maximumLines: 100)
    let web = history.ring(for: "web.1")
    let worker = history.ring(for: "worker.1")
    history.millis = 10
    Array("w1\nw2\n".utf8).withUnsafeBytes { history.record(run: $0, lines: 2, in: web) }
    Array("k1".utf8).withUnsafeBytes { history.record($0, in: worker) }
    history.millis = 20
    Array("started".utf8).withUnsafeBytes { history.record($0, in: web, byForge: true) }
    Array("k2\nk3\nk4\n".utf8).withUnsafeBytes { history.record(run: $0, lines: 3, in: worker) }
    Array("w3\n".utf8).withUnsafeBytes { history.record(run: $0, lines: 1, in: web) }
    Array("k5".utf8).withUnsafeBytes { history.record($0, in: worker) }

    func last(_ count: Int, matching: (String) -> Bool = { _ in true }) -> [String] {
      var out: [String] = []
      history.last(count, matching: matching) { name, record, bytes in
        let text = String(decoding: bytes, as: UTF8.self)
        out.append("\(name) \(record.sequence) \(record.millis)\(record.byForge ? " forge" : "") \(text)")
      }
      return out
    }
    XCTAssertEqual(
      last(100),
      [
        "web.1 1 10 w1", "web.1 2 10 w2", "worker.1 3 10 k1", "web.1 4 20 forge started", "worker.1 5 20 k2",
        "worker.1 6 20 k3", "worker.1 7 20 k4", "web.1 8 20 w3", "worker.1 9 20 k5",
      ]
    )
    XCTAssertEqual(last(3), ["worker.1 7 20 k4", "web.1 8 20 w3", "worker.1 9 20 k5"])
    XCTAssertEqual(last(2, matching: { $0 == "web.1" }), ["web.1 4 20 forge started", "web.1 8 20 w3"])
    XCTAssertEqual(last(0), [])
    XCTAssertEqual(history.names, ["web.1", "worker.1"])
  }
}
