/// The single writer of forge's log stream. Lines are rendered whole into one buffer and
/// written many per system call; a partial write keeps the rest for later, so lines are never
/// torn or interleaved. When the buffer passes its high-water mark the supervisor stops
/// reading child pipes (back-pressure) instead of letting the buffer grow.
final class OutputWriter {
  enum State: Equatable {
    /// Everything buffered is written.
    case drained
    /// stdout cannot take more now; wait for it to become writable.
    case blocked
    /// stdout is closed or failing; output is discarded from now on.
    case broken
  }

  static let capacity = 1024 * 1024

  private let sink: OutputSink
  private let buffer = OutputBuffer(capacity: OutputWriter.capacity)
  var formatter: LineFormatter
  private(set) var isBroken = false
  /// When stdout last took bytes (monotonic nanoseconds).
  private(set) var lastProgress: UInt64 = Clock.now()
  /// Set once when stdout breaks, for the supervisor to report on stderr.
  private var failure: SystemError?

  /// The error that broke stdout, once.
  func takeFailure() -> SystemError? {
    defer { failure = nil }
    return failure
  }

  init(sink: OutputSink, formatter: LineFormatter) {
    self.sink = sink
    self.formatter = formatter
  }

  var descriptor: Int32 { sink.descriptor }

  /// A detached forge's `--log-file`: rotated at `limit` bytes.
  func rotate(_ path: String, every limit: Int) { sink.rotate(path, every: limit) }
  var pendingCount: Int { buffer.count }

  /// What was rendered since the buffer held `count` bytes, when lines are rendered as
  /// prefix, line and "\n" (text without time stamps): a follower whose lines look the same
  /// takes these bytes as they are.
  func rendered(since count: Int) -> UnsafeRawBufferPointer? {
    guard rendersInBulk, count <= buffer.count else { return nil }
    return UnsafeRawBufferPointer(rebasing: buffer.bytes[count...])
  }

  /// Whether one more line of the longest kind fits under the high-water mark.
  var hasRoom: Bool {
    buffer.count + 512 + LineAssembler.maximumLine * formatter.worstCaseExpansion <= Self.capacity
  }

  /// Whether the buffer has drained far enough for child pipes to be read again.
  var belowLowWater: Bool { buffer.count <= Self.capacity / 4 }

  func append(_ line: UnsafeRawBufferPointer, from source: LogSource) {
    if isBroken { return }
    formatter.append(line, from: source, to: buffer)
  }

  /// Whether lines are rendered as prefix, line and "\n" (text without time stamps) to a
  /// working stdout: then the log path takes them in bulk.
  var rendersInBulk: Bool { !isBroken && formatter.format == .text && !formatter.timestamps }

  /// The bulk step of the log path (see `OutputBuffer.appendLines`), when lines are rendered
  /// as prefix, line and "\n" (text without time stamps) and stdout works; (0, 0) otherwise,
  /// and the lines take the line-by-line path.
  func appendLines(_ bytes: UnsafeRawBufferPointer, from source: LogSource, budget: Int) -> (taken: Int, lines: Int) {
    guard rendersInBulk else { return (0, 0) }
    return buffer.appendLines(
      bytes, prefix: source.prefix, longest: LineAssembler.maximumLine,
      limit: Self.capacity - 512 - LineAssembler.maximumLine * formatter.worstCaseExpansion, budget: budget)
  }

  /// forge's own messages are accepted above the high-water mark, up to `messageAllowance`
  /// more: they are short, and a stop's story must not be lost. Past that (a crash loop while
  /// stdout is stuck) they are counted, and the count is told once stdout moves again.
  func append(message: String, from source: LogSource) {
    if isBroken { return }
    guard buffer.count < Self.capacity + Self.messageAllowance else {
      droppedMessages += 1
      return
    }
    formatter.append(message: message, from: source, to: buffer)
  }

  static let messageAllowance = 256 * 1024
  /// forge's own messages dropped while stdout was stuck, not yet told.
  private(set) var droppedMessages = 0

  /// Tells how many of forge's messages were dropped, once there is room again.
  func reportDroppedMessages(from source: LogSource) {
    guard droppedMessages > 0, belowLowWater else { return }
    let count = droppedMessages
    droppedMessages = 0
    append(message: "\(count) of forge's own messages dropped while stdout was blocked", from: source)
  }

  /// Restarts the no-progress clock (when forge starts waiting for stdout).
  func noteProgress() { lastProgress = Clock.now() }

  /// From now on, log output goes nowhere (stdout was closed before forge started).
  func discardOutput() {
    isBroken = true
    buffer.consume(buffer.count)
  }

  /// Writes as much as stdout takes without blocking (a regular file always takes all).
  @discardableResult
  func flush() -> State {
    if isBroken { return .broken }
    while buffer.count > 0 {
      switch sink.write(buffer.bytes) {
      case .wrote(let n):
        buffer.consume(n)
        lastProgress = Clock.now()
      case .wouldBlock:
        return .blocked
      case .failed(let error):
        isBroken = true
        failure = error
        buffer.consume(buffer.count)
        return .broken
      }
    }
    return .drained
  }

  /// At exit: writes everything, waiting for a slow reader at most `milliseconds` in total.
  func flushBlocking(milliseconds: Int32) {
    var waited: Int32 = 0
    while flush() == .blocked && waited < milliseconds {
      if !sink.waitWritable(milliseconds: 100) { waited += 100 }
    }
  }
}
