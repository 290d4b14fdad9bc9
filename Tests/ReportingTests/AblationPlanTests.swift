import XCTest

@testable import Reporting

final class AblationPlanTests: XCTestCase {
  func testSplitValues() {
    XCTAssertEqual(AblationPlan.splitValues("a,[1, 2],'x,y'"), ["a", "[1, 2]", "'x,y'"])
  }
}
