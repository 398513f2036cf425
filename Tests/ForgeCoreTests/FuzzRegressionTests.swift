import Foundation
import XCTest

@testable import ForgeCore

/// Replays every input that `make fuzz` ever found crashing (kept in Fuzz/regressions/TARGET/)
/// through the same checks the fuzz targets make, plus hand-made hostile inputs.
final class FuzzRegressionTests: XCTestCase {
  private var regressions: URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("Fuzz/regressions")
  }

  private func inputs(_ target: String) -> [[UInt8]] {
    let folder = regressions.appendingPathComponent(target)
    let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
    return names.sorted().compactMap { try? Data(contentsOf: folder.appendingPathComponent($0)) }.map { [UInt8]($0) }
  }

  /// Inputs that stress the parsers at their edges: nothing here may crash or hang.
  private let hostile: [[UInt8]] = [
    [], [0], [0xFF, 0xFE], Array("\u{FEFF}".utf8), Array(repeating: 0x5C, count: 5000),
    Array("a: \\".utf8), Array("\\\n\\\n\\".utf8), Array("A=\"${".utf8), Array("A=${:-}".utf8),
    Array("A='\\'".utf8), Array("export".utf8), Array("export ".utf8), Array("A=$".utf8),
    Array(repeating: 0x0D, count: 1000), Array("x:".utf8) + Array(repeating: 0x20, count: 100_000),
  ]

  func testProcfileInputs() {
    for input in inputs("procfile") + hostile {
      if let procfile = try? Procfile.parse(input, path: "Procfile") {
        XCTAssertFalse(procfile.entries.isEmpty)
      }
    }
  }

  func testDotEnvInputs() {
    for input in inputs("dotenv") + hostile {
      if let pairs = try? DotEnv.parse(input, path: ".env") {
        XCTAssertTrue(pairs.allSatisfy { !$0.key.isEmpty })
      }
    }
  }

  func testControlInputs() {
    for input in inputs("control") + hostile {
      if let request = try? ControlRequest.decode(input) {
        XCTAssertEqual(try? ControlRequest.decode(Array(request.encoded().utf8)), request)
      }
    }
  }

  func testFormationInputs() {
    for input in inputs("formation") + hostile {
      let text = String(decoding: input, as: UTF8.self)
      _ = try? Formation.parse(text, source: "-m")
      _ = try? ScaleArguments.parse(text.split(separator: " ").map(String.init))
    }
  }
}
