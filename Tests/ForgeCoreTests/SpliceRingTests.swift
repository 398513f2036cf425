import Glibc
import XCTest

@testable import ForgeCore

/// SpliceRing hands its memory to a real pipe by reference: the bytes a reader gets must be
/// exactly the bytes appended, in order, however appends, hand-overs and reads interleave, and
/// the ring must never reuse memory whose bytes the pipe still holds (the reader would see
/// them changed).
final class SpliceRingTests: XCTestCase {
  private static let pipeSize = 64 * 1024

  private func makePipe() throws -> (read: FileDescriptor, write: FileDescriptor) {
    let pipe = try ForgeCore.Pipe()
    try pipe.write.setNonBlocking(true)
    XCTAssertTrue(pipe.write.growPipeBuffer(to: Self.pipeSize))
    return (pipe.read, pipe.write)
  }

  /// Bytes that differ from their neighbours, numbered on from where the last call stopped.
  private struct Source {
    private(set) var produced = 0

    mutating func take(_ count: Int) -> [UInt8] {
      defer { produced += count }
      return (0..<count).map { UInt8(truncatingIfNeeded: ($0 + produced) % 251) }
    }
  }

  private func drain(_ fd: FileDescriptor, upTo limit: Int) throws -> [UInt8] {
    var chunk = [UInt8](repeating: 0, count: limit)
    guard let n = try fd.read(into: &chunk) else { return [] }
    return Array(chunk[0..<n])
  }

  func testBytesComeOutOfThePipeExactlyAsAppendedAcrossManyWraps() throws {
    try checkBytesComeOutExactly(copying: false)
  }

  /// Where vmsplice is refused, the ring copies with write(2): the same stream.
  func testCopyingInsteadOfSplicingGivesTheSameBytes() throws {
    try checkBytesComeOutExactly(copying: true)
  }

  private func checkBytesComeOutExactly(copying: Bool) throws {
    let (reader, writer) = try makePipe()
    let ring = try XCTUnwrap(SpliceRing(capacity: 2 * Self.pipeSize, copying: copying))
    var source = Source()
    var expected: [UInt8] = []
    var received: [UInt8] = []
    var generator = SeededGenerator(seed: 42)
    // 40 times the ring: every position is written, handed over, read and reused many times.
    while source.produced < 40 * ring.capacity {
      let size = Int.random(in: 1...(ring.capacity / 3), using: &generator)
      let bytes = source.take(min(size, ring.room))
      ring.append(bytes)
      expected += bytes
      _ = try ring.handOver(to: writer)
      try reader.setNonBlocking(true)
      received += try drain(reader, upTo: Int.random(in: 1...Self.pipeSize, using: &generator))
    }
    while ring.unsent > 0 || received.count < expected.count {
      _ = try ring.handOver(to: writer)
      received += try drain(reader, upTo: Self.pipeSize)
    }
    XCTAssertEqual(received.count, expected.count)
    XCTAssertTrue(received == expected, "the bytes read differ from the bytes appended")
  }

  /// With the pipe full and nothing read, the ring offers only the memory the pipe does not
  /// hold; once the reader has read, it offers that too, and what was read is what was written
  /// before the memory was reused.
  func testMemoryThePipeStillHoldsIsNeverReused() throws {
    let (reader, writer) = try makePipe()
    let ring = try XCTUnwrap(SpliceRing(capacity: 2 * Self.pipeSize))
    var source = Source()
    let first = source.take(ring.capacity)
    ring.append(first)
    XCTAssertEqual(ring.room, 0)
    XCTAssertFalse(try ring.handOver(to: writer), "the pipe holds half the ring")
    XCTAssertEqual(ring.unsent, ring.capacity - Self.pipeSize)
    XCTAssertEqual(ring.room, 0, "nothing was read: no memory is free")
    _ = try ring.handOver(to: writer)
    XCTAssertEqual(ring.room, 0, "still nothing read")

    try reader.setNonBlocking(true)
    var received = try drain(reader, upTo: Self.pipeSize / 2)
    XCTAssertEqual(received.count, Self.pipeSize / 2)
    XCTAssertFalse(try ring.handOver(to: writer), "the reader made room in the pipe, which took more")
    // Read half a pipe: half a pipe of the ring is free again, and only that.
    XCTAssertEqual(ring.room, Self.pipeSize / 2)
    let second = source.take(ring.room)
    ring.append(second)
    XCTAssertEqual(ring.room, 0)
    while received.count < first.count + second.count {
      _ = try ring.handOver(to: writer)
      received += try drain(reader, upTo: Self.pipeSize)
    }
    XCTAssertTrue(received == first + second, "a byte the pipe held was overwritten before it was read")
  }

  func testAReaderThatWentAwayIsAnError() throws {
    // As in forge, a write to a pipe nobody reads returns EPIPE instead of killing the process.
    let previous = signal(SIGPIPE, SIG_IGN)
    defer { signal(SIGPIPE, previous) }
    var (reader, writer) = try makePipe()
    let ring = try XCTUnwrap(SpliceRing(capacity: 2 * Self.pipeSize))
    reader.close()
    reader = try makePipe().read  // keep a descriptor in the variable; the first is closed
    ring.append(Array("a line\n".utf8))
    XCTAssertThrowsError(try ring.handOver(to: writer)) { error in
      XCTAssertEqual((error as? SystemError)?.errno, EPIPE)
    }
  }
}
