import XCTest

final class ExportCommandTests: XCTestCase {}
