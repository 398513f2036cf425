import XCTest

@testable import ForgeCore

final class PathTests: XCTestCase {
  func testJoin() {
    XCTAssertEqual(Path.join("/a", "b"), "/a/b")
    XCTAssertEqual(Path.join("/a/", "b"), "/a/b")
    XCTAssertEqual(Path.join("", "b"), "b")
    XCTAssertEqual(Path.join("/a", "/b"), "/b", "an absolute name stays absolute")
  }

  func testNormalize() {
    XCTAssertEqual(Path.normalize("/a/./b/../c//d/"), "/a/c/d")
    XCTAssertEqual(Path.normalize("/../a"), "/a", "nothing above the root")
    XCTAssertEqual(Path.normalize("a/../.."), "..")
    XCTAssertEqual(Path.normalize("../../a"), "../../a")
    XCTAssertEqual(Path.normalize("./"), ".")
    XCTAssertEqual(Path.normalize(""), ".")
    XCTAssertEqual(Path.normalize("/"), "/")
  }

  func testAbsolute() {
    XCTAssertEqual(Path.absolute("x/../../y", from: "/base/dir"), "/base/y")
    XCTAssertEqual(Path.absolute("/etc/./x", from: "/base"), "/etc/x")
  }

  func testDirectoryAndLastComponent() {
    XCTAssertEqual(Path.directory(of: "/a/b/Procfile"), "/a/b")
    XCTAssertEqual(Path.directory(of: "/Procfile"), "/")
    XCTAssertEqual(Path.directory(of: "Procfile"), ".")
    XCTAssertEqual(Path.lastComponent("/srv/app/"), "app")
    XCTAssertEqual(Path.lastComponent("app"), "app")
  }
}
