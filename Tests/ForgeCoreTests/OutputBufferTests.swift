import XCTest

@testable import ForgeCore

/// OutputBuffer drops written-out bytes by moving a head offset, moves the rest to the front
/// when an append would run past the end, and grows only when the bytes do not fit even
/// there. Whatever the mix of appends and partial consumes, the bytes must come out in order.
final class OutputBufferTests: XCTestCase {
  /// The unwritten bytes of `buffer`.
  private func contents(_ buffer: OutputBuffer) -> [UInt8] {
    Array(buffer.bytes)
  }

  /// Bytes that differ from their neighbours, so a byte out of place shows.
  private struct Source {
    private var next: UInt32 = 0

    mutating func take(_ count: Int) -> [UInt8] {
      (0..<count).map { _ in
        next &+= 1
        return UInt8(truncatingIfNeeded: next % 251)
      }
    }
  }

  func testAppendAndConsumeInOrder() {
    let buffer = OutputBuffer(capacity: 16)
    buffer.append(Array("hello ".utf8))
    buffer.append(UInt8(ascii: "w"))
    buffer.append(Array("orld".utf8))
    XCTAssertEqual(String(decoding: contents(buffer), as: UTF8.self), "hello world")
    buffer.consume(6)
    XCTAssertEqual(String(decoding: contents(buffer), as: UTF8.self), "world")
    XCTAssertEqual(buffer.count, 5)
    buffer.consume(5)
    XCTAssertEqual(buffer.count, 0)
    XCTAssertEqual(contents(buffer), [])
  }

  func testWrapAroundMovesToTheFrontWithoutGrowing() {
    var source = Source()
    let buffer = OutputBuffer(capacity: 64)
    var reference = source.take(60)
    buffer.append(reference)
    // 50 written out: 10 unwritten bytes at offset 50, and an append of 40 runs past the end.
    buffer.consume(50)
    reference.removeFirst(50)
    let more = source.take(40)
    buffer.append(more)
    reference += more
    XCTAssertEqual(buffer.capacity, 64, "50 bytes fit once the unwritten ones are moved to the front")
    XCTAssertEqual(contents(buffer), reference)
  }

  func testGrowthKeepsUnwrittenBytesAfterAPartialConsume() {
    var source = Source()
    let buffer = OutputBuffer(capacity: 32)
    var reference = source.take(30)
    buffer.append(reference)
    buffer.consume(7)
    reference.removeFirst(7)
    let more = source.take(100)
    buffer.append(more)
    reference += more
    XCTAssertGreaterThanOrEqual(buffer.capacity, 123)
    XCTAssertEqual(buffer.capacity, 128, "doubled until it fits")
    XCTAssertEqual(contents(buffer), reference)
  }

  func testEmptyingTheBufferRewindsIt() {
    var source = Source()
    let buffer = OutputBuffer(capacity: 32)
    buffer.append(source.take(20))
    buffer.consume(20)
    // Everything written: the next 32 bytes fit in place.
    let full = source.take(32)
    buffer.append(full)
    XCTAssertEqual(buffer.capacity, 32)
    XCTAssertEqual(contents(buffer), full)
  }

  /// Seeded random appends (slices, single bytes, empty ones, some larger than the whole
  /// buffer) and partial consumes, checked against a plain array after every step.
  func testRandomAppendsAndPartialConsumesMatchAReference() {
    for seed: UInt64 in [1, 0x5EED, 0xB0FFE2] {
      var random = SeededGenerator(seed: seed)
      var source = Source()
      let buffer = OutputBuffer(capacity: 64)
      var reference: [UInt8] = []
      var head = 0  // of the reference: what is consumed
      var appended = 0
      var consumed = 0
      var grew = 0
      for step in 0..<20_000 {
        let capacityBefore = buffer.capacity
        switch Int.random(in: 0..<10, using: &random) {
        case 0..<4:
          // Mostly small, sometimes past the end, now and then larger than the first capacity.
          let limit = Int.random(in: 0..<20, using: &random) == 0 ? 300 : 48
          let chunk = source.take(Int.random(in: 0...limit, using: &random))
          if Bool.random(using: &random) {
            buffer.append(chunk)
          } else {
            chunk.withUnsafeBytes { buffer.append($0) }
          }
          reference += chunk
          appended += chunk.count
        case 4:
          let byte = source.take(1)[0]
          buffer.append(byte)
          reference.append(byte)
          appended += 1
        default:
          let unwritten = reference.count - head
          let n = Int.random(in: 0...unwritten, using: &random)
          buffer.consume(n)
          head += n
          consumed += n
        }
        if buffer.capacity != capacityBefore { grew += 1 }
        XCTAssertEqual(buffer.count, reference.count - head, "seed \(seed), step \(step)")
        guard contents(buffer) == Array(reference[head...]) else {
          XCTFail("seed \(seed), step \(step): bytes differ from the reference")
          return
        }
        // Keep the reference small; what is consumed is never looked at again.
        if head > 4096 {
          reference.removeFirst(head)
          head = 0
        }
      }
      XCTAssertGreaterThan(appended, 100_000, "seed \(seed): enough traffic")
      XCTAssertGreaterThan(consumed, 100_000, "seed \(seed): enough traffic")
      XCTAssertGreaterThan(grew, 0, "seed \(seed): the buffer grew at least once")
    }
  }
}
