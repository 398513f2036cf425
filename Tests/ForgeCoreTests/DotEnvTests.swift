import XCTest

@testable import ForgeCore

final class DotEnvTests: XCTestCase {
  /// The file's definitions in order, as "KEY=value" strings (easy to compare and read).
  private func pairs(_ text: String, _ environment: [String: String] = [:]) throws -> [String] {
    try DotEnv.parse(bytes(text), path: ".env") { environment[$0] }.map { "\($0.key)=\($0.value)" }
  }

  private func value(_ text: String, _ environment: [String: String] = [:]) throws -> String? {
    let defined = try DotEnv.parse(bytes(text), path: ".env") { environment[$0] }
    XCTAssertEqual(defined.count, 1, "expected one definition in \(String(reflecting: text))")
    return defined.first?.value
  }

  // Rule 1: BOM, line ends, blank and comment lines.

  func testBOMAndLineEnds() throws {
    XCTAssertEqual(try pairs("\u{FEFF}A=1\r\nB=2\rC=3\nD=4"), ["A=1", "B=2", "C=3", "D=4"])
  }

  func testBlankAndCommentLinesAreSkipped() throws {
    XCTAssertEqual(try pairs("\n  \t\n# A=1\n   # B=2\nC=3\n#\n"), ["C=3"])
    XCTAssertEqual(try pairs(""), [])
  }

  func testErrorLinesCountCRLFAndCROnce() {
    assertConfigError(try pairs("A=1\r\nB=2\r\n\r\nbad line\r\n"), line: 4)
    assertConfigError(try pairs("A=1\rB=2\r\rbad line\r"), line: 4)
  }

  // Rule 2: export.

  func testExportPrefix() throws {
    XCTAssertEqual(try pairs("export A=1\nexport \t B = 2\n"), ["A=1", "B=2"])
  }

  func testExportAloneSetsNothing() throws {
    XCTAssertEqual(try pairs("export A\nexport B  \nC=1\n"), ["C=1"])
  }

  func testExportIsAnOrdinaryKeyWithoutTheSpace() throws {
    XCTAssertEqual(try pairs("export=1\nexportX=2\n"), ["export=1", "exportX=2"])
  }

  func testExportWithSpacesBeforeEquals() throws {
    // `export` is a valid key, and blanks may come before `=` (rule 3).
    XCTAssertEqual(try pairs("export =1\n"), ["export=1"])
  }

  func testExportAsAWordAloneIsNotAnAssignment() {
    assertConfigError(try pairs("export\n"), line: 1)
  }

  // Rule 3: keys and separators.

  func testKeyCharacters() throws {
    XCTAssertEqual(
      try pairs("1A=a\n_b=b\nc.d-e_F9=c\nlower=d\n"), ["1A=a", "_b=b", "c.d-e_F9=c", "lower=d"])
  }

  func testKeyMustStartWithLetterDigitOrUnderscore() {
    assertConfigError(try pairs(".A=1\n"), line: 1)
    assertConfigError(try pairs("-A=1\n"), line: 1)
    assertConfigError(try pairs("OK=1\nA[0]=1\n"), line: 2)
    assertConfigError(try pairs("wëb=1\n"), line: 1)
  }

  func testBlanksAroundEquals() throws {
    XCTAssertEqual(try pairs("A = 1\nB\t=\t2\n  C=3\n"), ["A=1", "B=2", "C=3"])
  }

  func testYAMLStyleColon() throws {
    XCTAssertEqual(try pairs("A: 1\nB:\t2\nC :  'three'\nD:\n"), ["A=1", "B=2", "C=three", "D="])
  }

  func testColonWithoutBlankIsNotASeparator() {
    assertConfigError(try pairs("A:1\n"), line: 1)
  }

  // Rule 4: quoted values.

  func testSingleQuotedIsLiteral() throws {
    XCTAssertEqual(
      try value("A='$HOME ${HOME} \\n \\\\ \"x\" # not a comment'\n", ["HOME": "/h"]),
      "$HOME ${HOME} \\n \\\\ \"x\" # not a comment")
  }

  func testSingleQuotedSpansLines() throws {
    XCTAssertEqual(try pairs("A='one\ntwo\r\nthree'\nB=4\n"), ["A=one\ntwo\nthree", "B=4"])
  }

  func testSingleQuotedBackslashQuoteIsKeptAndDoesNotEnd() throws {
    XCTAssertEqual(try value("A='it\\'s'\n"), "it\\'s")
  }

  func testDoubleQuotedEscapes() throws {
    XCTAssertEqual(try value("A=\"n\\n t\\t r\\r q\\\" b\\\\ d\\$X\"\n", ["X": "x"]), "n\n t\t r\r q\" b\\ d$X")
  }

  func testDoubleQuotedOtherBackslashesAreKept() throws {
    XCTAssertEqual(try value("A=\"C:\\app\\x \\' \\a\"\n"), "C:\\app\\x \\' \\a")
  }

  func testDoubleQuotedSpansLinesAndExpands() throws {
    XCTAssertEqual(
      try pairs("U=me\nA=\"hello\n$U and ${U}\"\nB=2\n", ["U": "not used"]), ["U=me", "A=hello\nme and me", "B=2"])
  }

  func testDoubleQuotedKeepsHashAndLeadingSpaces() throws {
    XCTAssertEqual(try value("A=\"  a # b  \"\n"), "  a # b  ")
  }

  func testOnlyBlanksAndACommentMayFollowTheClosingQuote() throws {
    XCTAssertEqual(try pairs("A='x'  # note\nB=\"y\"\t#note\nC=\"z\"#note\nD='w'   \n"), ["A=x", "B=y", "C=z", "D=w"])
    assertConfigError(try pairs("A=1\nB=\"x\"y\n"), line: 2, mentioning: "closing quote")
    assertConfigError(try pairs("A='x' y\n"), line: 1)
    assertConfigError(try pairs("A='x''y'\n"), line: 1)
  }

  func testTextAfterAMultiLineValueIsReportedWhereTheQuoteCloses() {
    assertConfigError(try pairs("A=\"one\ntwo\" three\n"), line: 2)
  }

  func testUnterminatedQuotesAreReportedOnTheirFirstLine() {
    assertConfigError(try pairs("A=1\nB='open\nC=3\n"), line: 2, mentioning: "unterminated")
    assertConfigError(try pairs("A=1\n\nB=\"open\nC=3\n"), line: 3, mentioning: "unterminated")
    assertConfigError(try pairs("A=\"ends with an escaped quote\\\"\n"), line: 1)
  }

  func testLineNumbersAfterAMultiLineValue() {
    assertConfigError(try pairs("A='1\n2\n3'\nB=\"4\n5\"\nbad\n"), line: 6)
  }

  func testQuoteInsideAnUnquotedValueIsKept() throws {
    XCTAssertEqual(try pairs("A=it's\nB=a\"b\nC=`x`\n"), ["A=it's", "B=a\"b", "C=`x`"])
  }

  // Rule 5: unquoted values.

  func testUnquotedRunsToTheEndOfTheLineTrimmed() throws {
    XCTAssertEqual(try value("A=  some  spaced\tvalue \t\n"), "some  spaced\tvalue")
    XCTAssertEqual(try value("A=\n"), "")
    XCTAssertEqual(try value("A=   \n"), "")
  }

  func testHashAfterABlankStartsAComment() throws {
    XCTAssertEqual(try pairs("A=b # c\nB=c\t#d\nC=x#y\nD=#z\nE= #w\n"), ["A=b", "B=c", "C=x#y", "D=#z", "E="])
  }

  func testUnquotedExpansion() throws {
    let env = ["P": "/p", "EMPTY": ""]
    XCTAssertEqual(try value("A=$P/bin:${P}x\n", env), "/p/bin:/px")
    XCTAssertEqual(try value("A=${MISSING:-fallback value}\n", env), "fallback value")
    XCTAssertEqual(try value("A=${EMPTY:-used when empty}\n", env), "used when empty")
    XCTAssertEqual(try value("A=${P:-unused}\n", env), "/p")
    XCTAssertEqual(try value("A=${MISSING:-}\n", env), "")
  }

  func testUnbracedNameEndsAtTheFirstNonNameByte() throws {
    XCTAssertEqual(try value("A=$P.x-$P_1\n", ["P": "p", "P_1": "q"]), "p.x-q")
  }

  func testBracedNameMayHoldDotsAndDashes() throws {
    XCTAssertEqual(try pairs("a.b-c=1\nX=${a.b-c}\n"), ["a.b-c=1", "X=1"])
  }

  func testBackslashDollarStaysLiteralUnquoted() throws {
    XCTAssertEqual(try value("A=price\\$P \\${P}\n", ["P": "p"]), "price\\$P \\${P}")
  }

  func testOtherBackslashesStayUnquoted() throws {
    XCTAssertEqual(try value("A=a\\nb\\ c\n"), "a\\nb\\ c")
  }

  func testDollarThatStartsNoReferenceIsKept() throws {
    XCTAssertEqual(try value("A=5$ $ $$ ${ ${} $-x\n"), "5$ $ $$ ${ ${} $-x")
    XCTAssertEqual(try value("A=\"$ and ${\"\n"), "$ and ${")
  }

  // Rule 6: what expansion sees.

  func testCommandSubstitutionIsNeverRun() throws {
    XCTAssertEqual(try value("A=$(touch /tmp/forge-pwned)\n"), "$(touch /tmp/forge-pwned)")
    XCTAssertEqual(try value("A=\"$(id)\"\n"), "$(id)")
  }

  func testEarlierKeysWinOverTheProcessEnvironment() throws {
    XCTAssertEqual(try pairs("A=file\nB=$A\n", ["A": "process"]), ["A=file", "B=file"])
  }

  func testProcessEnvironmentIsUsedForKeysTheFileDoesNotDefineYet() throws {
    XCTAssertEqual(try pairs("B=$A\nA=file\n", ["A": "process"]), ["B=process", "A=file"])
    XCTAssertEqual(try pairs("B=$A\nA=file\n"), ["B=", "A=file"], "forward references are empty")
  }

  func testSelfReferenceSeesTheOuterValue() throws {
    XCTAssertEqual(try value("PATH=${PATH}:/x\n", ["PATH": "/bin"]), "/bin:/x")
  }

  func testLookupIsOnlyAskedForNamesTheFileHasNotDefined() throws {
    var asked: [String] = []
    _ = try DotEnv.parse(bytes("A=1\nB=$A$C\nD=\"${E:-x}\"\n"), path: ".env") { name in
      asked.append(name)
      return nil
    }
    XCTAssertEqual(asked, ["C", "E"])
  }

  func testDefaultInsideDoubleQuotesDoesNotRunPastTheClosingQuote() throws {
    // A `}` on a later line must not be taken as the end of `${X:-`.
    XCTAssertEqual(try pairs("A=\"${X:-y\"\nB=${C}\n"), ["A=${X:-y", "B="])
    XCTAssertEqual(try pairs("A=\"${X:-y\" # }\nB=2\n"), ["A=${X:-y", "B=2"])
  }

  // Rule 7: redefinition.

  func testLaterDefinitionReplacesAndKeepsTheFirstPosition() throws {
    XCTAssertEqual(try pairs("A=1\nB=2\nA=3\nC=$A\n"), ["A=3", "B=2", "C=3"])
  }

  // Rule 8: errors.

  func testLineThatIsNotAnAssignment() {
    assertConfigError(try pairs("A=1\nJUST_A_KEY\n"), line: 2, path: ".env")
    assertConfigError(try pairs("=value\n"), line: 1)
    assertConfigError(try pairs("A 1\n"), line: 1, mentioning: "'='")
    assertConfigError(try pairs("KEY\n"), line: 1)
    assertConfigError(try pairs("A=1\n\n  INVALID LINE\n"), line: 3)
  }

  func testErrorCarriesThePath() {
    do {
      _ = try DotEnv.parse(bytes("bad\n"), path: "config/app.env")
      XCTFail("expected an error")
    } catch {
      XCTAssertEqual(error.path, "config/app.env")
      XCTAssertTrue(error.description.hasPrefix("config/app.env:1: "), error.description)
    }
  }
}
