import XCTest

@testable import ForgeCore

/// The UTF-8 bytes of a string literal.
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Asserts that `expression` throws a `ConfigError` on `errorLine` (0: the whole file or a
/// value outside a file), optionally with `path` and a message containing `mentioning`.
@discardableResult
func assertConfigError<T>(
  _ expression: @autoclosure () throws -> T, line errorLine: Int, path: String? = nil,
  mentioning: String? = nil, _ message: String = "", file: StaticString = #filePath, sourceLine: UInt = #line
) -> ConfigError? {
  do {
    let value = try expression()
    XCTFail("expected a ConfigError on line \(errorLine), got \(value) \(message)", file: file, line: sourceLine)
    return nil
  } catch let error as ConfigError {
    XCTAssertEqual(error.line, errorLine, "wrong error line: \(error) \(message)", file: file, line: sourceLine)
    if let path { XCTAssertEqual(error.path, path, "wrong error path: \(error)", file: file, line: sourceLine) }
    if let mentioning {
      XCTAssertTrue(
        error.message.contains(mentioning), "message \"\(error.message)\" lacks \"\(mentioning)\"", file: file,
        line: sourceLine)
    }
    return error
  } catch {
    XCTFail("expected a ConfigError, got \(error) \(message)", file: file, line: sourceLine)
    return nil
  }
}

/// A deterministic generator (SplitMix64), so randomised tests repeat exactly.
struct SeededGenerator: RandomNumberGenerator {
  private var state: UInt64

  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
