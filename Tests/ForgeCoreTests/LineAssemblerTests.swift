import XCTest

@testable import ForgeCore

final class LineAssemblerTests: XCTestCase {
  private let max = LineAssembler.maximumLine

  private func lines(_ assembler: LineAssembler) -> [[UInt8]] {
    var out: [[UInt8]] = []
    while let line = assembler.nextLine() { out.append(Array(line)) }
    return out
  }

  private func strings(_ assembler: LineAssembler) -> [String] {
    lines(assembler).map { String(decoding: $0, as: UTF8.self) }
  }

  /// Feeds `data` in the given chunk sizes (cycled), draining lines after each chunk, then
  /// takes the remainder: what the supervisor does with a pipe.
  private func assemble(_ data: [UInt8], chunks: [Int], stripsCR: Bool = false) -> [[UInt8]] {
    let assembler = LineAssembler(stripsCarriageReturn: stripsCR)
    var out: [[UInt8]] = []
    var offset = 0
    var k = 0
    while offset < data.count {
      let size = Swift.min(chunks[k % chunks.count], data.count - offset)
      k += 1
      var fed = 0
      while fed < size {
        let n = assembler.feed(data[(offset + fed)..<(offset + size)])
        XCTAssertGreaterThan(n, 0, "no room after draining")
        fed += n
        out += lines(assembler)
      }
      offset += size
    }
    if let rest = assembler.takeRemainder() { out.append(Array(rest)) }
    return out
  }

  /// The rule, independently: split at LF, a line longer than the maximum comes in pieces of
  /// the maximum, a last line without LF is kept.
  private func reference(_ data: [UInt8]) -> [[UInt8]] {
    var out: [[UInt8]] = []
    var current: [UInt8] = []
    for byte in data {
      if byte == 0x0A {
        out.append(current)
        current = []
      } else {
        current.append(byte)
        if current.count > max {
          out.append(Array(current[0..<max]))
          current = Array(current[max...])
        }
      }
    }
    if !current.isEmpty { out.append(current) }
    return out
  }

  func testCompleteLines() {
    let assembler = LineAssembler()
    assembler.feed(bytes("one\ntwo\nthree\n"))
    XCTAssertEqual(strings(assembler), ["one", "two", "three"])
    XCTAssertEqual(assembler.bufferedCount, 0)
    XCTAssertNil(assembler.takeRemainder())
  }

  func testNothingBeforeTheFirstFeed() {
    let assembler = LineAssembler()
    XCTAssertNil(assembler.nextLine())
    XCTAssertNil(assembler.takeRemainder())
  }

  func testLineSplitAcrossReads() {
    let assembler = LineAssembler()
    assembler.feed(bytes("hel"))
    XCTAssertNil(assembler.nextLine())
    assembler.feed(bytes("lo wo"))
    XCTAssertNil(assembler.nextLine())
    XCTAssertEqual(assembler.bufferedCount, 8)
    assembler.feed(bytes("rld\nnext"))
    XCTAssertEqual(strings(assembler), ["hello world"])
    assembler.feed(bytes(" line\n"))
    XCTAssertEqual(strings(assembler), ["next line"])
  }

  func testEmptyLines() {
    let assembler = LineAssembler()
    assembler.feed(bytes("\n\na\n\n"))
    XCTAssertEqual(strings(assembler), ["", "", "a", ""])
  }

  func testCRLFIsKeptAsIs() {
    let assembler = LineAssembler()
    assembler.feed(bytes("a\r\nb\rc\r\n\r\n"))
    XCTAssertEqual(lines(assembler), [bytes("a\r"), bytes("b\rc\r"), bytes("\r")])
  }

  func testStripsCarriageReturnModeUndoesTheTerminalsCRLF() {
    let assembler = LineAssembler(stripsCarriageReturn: true)
    assembler.feed(bytes("a\r\nb\r\r\n\r\nc\rd\n\r"))
    XCTAssertEqual(lines(assembler), [bytes("a"), bytes("b\r"), bytes(""), bytes("c\rd")])
    XCTAssertEqual(assembler.takeRemainder().map { Array($0) }, [0x0D], "no LF, so the CR stays")
  }

  func testPartialFinalLineViaTakeRemainder() {
    let assembler = LineAssembler()
    assembler.feed(bytes("done\nno newline"))
    XCTAssertEqual(strings(assembler), ["done"])
    XCTAssertEqual(assembler.takeRemainder().map { String(decoding: $0, as: UTF8.self) }, "no newline")
    XCTAssertNil(assembler.takeRemainder())
    XCTAssertEqual(assembler.bufferedCount, 0)
  }

  func testLineOfExactlyTheMaximumIsOneLine() {
    let line = [UInt8](repeating: UInt8(ascii: "x"), count: max)
    let assembler = LineAssembler()
    assembler.feed(line)
    XCTAssertNil(assembler.nextLine(), "a line of the maximum may still end with its LF")
    assembler.feed(bytes("\nafter\n"))
    XCTAssertEqual(lines(assembler), [line, bytes("after")])
  }

  func testLineOfOneMoreThanTheMaximumComesInTwoPieces() {
    let line = [UInt8]((0..<(max + 1)).map { UInt8(ascii: "a") + UInt8($0 % 26) })
    let assembler = LineAssembler()
    assembler.feed(line + bytes("\nafter\n"))
    let result = lines(assembler)
    XCTAssertEqual(result.map(\.count), [max, 1, 5])
    XCTAssertEqual(result[0] + result[1], line)
  }

  func testLongLineWithoutLFIsHandedOutOncePastTheMaximum() {
    let assembler = LineAssembler()
    assembler.feed([UInt8](repeating: 0x41, count: max))
    XCTAssertNil(assembler.nextLine())
    assembler.feed([0x42])
    XCTAssertEqual(lines(assembler).map(\.count), [max])
    XCTAssertEqual(assembler.takeRemainder().map { Array($0) }, [0x42])
  }

  func testVeryLongLineComesInPiecesOfTheMaximum() {
    let data = [UInt8](repeating: 0x61, count: 3 * max + 10) + [0x0A]
    XCTAssertEqual(assemble(data, chunks: [65536]).map(\.count), [max, max, max, 10])
  }

  func testPtyLineOfExactlyTheMaximumIsOneLine() {
    // A terminal ends it with CRLF: the CR is not part of the line, so it is not split.
    let line = [UInt8](repeating: 0x78, count: max)
    XCTAssertEqual(assemble(line + [0x0D, 0x0A] + bytes("b\r\n"), chunks: [4096], stripsCR: true), [line, bytes("b")])
    let longer = line + [0x79]
    XCTAssertEqual(
      assemble(longer + [0x0D, 0x0A], chunks: [4096], stripsCR: true), [line, [0x79]],
      "one byte more is still split at the maximum")
  }

  func testWritableSpaceAfterLinesAreTaken() {
    let assembler = LineAssembler()
    XCTAssertEqual(assembler.writableSpace().count, LineAssembler.capacity)
    assembler.feed([UInt8](repeating: 0x61, count: 1000) + [0x0A] + [UInt8](repeating: 0x62, count: 10))
    XCTAssertEqual(lines(assembler).map(\.count), [1000])
    XCTAssertEqual(assembler.writableSpace().count, LineAssembler.capacity - 10, "taken lines free their room")
  }

  func testFeedReportsWhatFitted() {
    let assembler = LineAssembler()
    let data = [UInt8](repeating: 0x0A, count: LineAssembler.capacity + 5)
    XCTAssertEqual(assembler.feed(data), LineAssembler.capacity)
    XCTAssertEqual(assembler.feed(data), 0)
  }

  func testRandomChunkBoundariesGiveTheSameLinesAsOneChunk() {
    var random = SeededGenerator(seed: 0x5EED)
    for round in 0..<6 {
      // Up to 200 KiB (one chunk must fit): short lines, empty lines, CRLF, a few long lines.
      var data: [UInt8] = []
      while data.count < 150_000 {
        let kind = Int.random(in: 0..<20, using: &random)
        let length =
          kind == 0
          ? Int.random(in: max - 2...max + 2, using: &random)
          : kind == 1 ? 0 : Int.random(in: 1...200, using: &random)
        for _ in 0..<length { data.append(UInt8.random(in: 0x20...0x7E, using: &random)) }
        if kind == 2 { data.append(0x0D) }
        data.append(0x0A)
      }
      if round % 2 == 1 { data += bytes("partial last line") }
      XCTAssertLessThanOrEqual(data.count, LineAssembler.capacity)
      let expected = reference(data)
      let whole = assemble(data, chunks: [data.count])
      XCTAssertEqual(whole, expected, "one chunk, round \(round)")
      let sizes = (0..<50).map { _ in Int.random(in: 1...70_000, using: &random) }
      XCTAssertEqual(assemble(data, chunks: sizes), expected, "random chunks, round \(round)")
    }
  }

  /// Terminal mode, for LF-terminated input: one CR before each LF is dropped, then what is
  /// left of a line is cut into pieces of the maximum.
  private func terminalReference(_ data: [UInt8]) -> [[UInt8]] {
    var out: [[UInt8]] = []
    var current: [UInt8] = []
    for byte in data {
      guard byte == 0x0A else {
        current.append(byte)
        continue
      }
      if current.last == 0x0D { current.removeLast() }
      var rest = current[...]
      repeat {
        out.append(Array(rest.prefix(max)))
        rest = rest.dropFirst(max)
      } while !rest.isEmpty
      current = []
    }
    return out
  }

  func testTerminalModeWithRandomChunks() {
    var random = SeededGenerator(seed: 0xC0FFEE)
    for round in 0..<4 {
      var data: [UInt8] = []
      while data.count < 150_000 {
        let kind = Int.random(in: 0..<10, using: &random)
        let length =
          kind == 0 ? Int.random(in: max - 2...max + 2, using: &random) : Int.random(in: 0...100, using: &random)
        for _ in 0..<length { data.append([0x61, 0x62, 0x0D][Int.random(in: 0..<3, using: &random)]) }
        if kind < 5 { data.append(0x0D) }
        data.append(0x0A)
      }
      let expected = terminalReference(data)
      XCTAssertEqual(assemble(data, chunks: [data.count], stripsCR: true), expected, "one chunk, round \(round)")
      let sizes = (0..<50).map { _ in Int.random(in: 1...70_000, using: &random) }
      XCTAssertEqual(assemble(data, chunks: sizes, stripsCR: true), expected, "random chunks, round \(round)")
    }
  }

  func testByteByByteFeeding() {
    var random = SeededGenerator(seed: 42)
    var data: [UInt8] = []
    for _ in 0..<3000 { data.append([0x0A, 0x0D, 0x61, 0x62][Int.random(in: 0..<4, using: &random)]) }
    XCTAssertEqual(assemble(data, chunks: [1]), reference(data))
    XCTAssertEqual(assemble(data, chunks: [1, 2, 3, 7, 64]), reference(data))
  }
}
