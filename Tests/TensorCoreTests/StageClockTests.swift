import TensorCore
import XCTest

final class StageClockTests: XCTestCase {
  func testStagesAreTimedInFirstRunOrderAndProductsCounted() {
    let a = Tensor.normal([8, 16], seed: 1), b = Tensor.normal([16, 32], seed: 2)
    _ = StageClock.measure("ignored") { a.matmul(b) }
    XCTAssertFalse(StageClock.isRecording)

    StageClock.start()
    for _ in 0..<2 {
      _ = StageClock.measure("second") { StageClock.measure("first") { a.matmul(b) } }
    }
    let flops = StageClock.countedFlops
    let stages = StageClock.stop()
    XCTAssertEqual(stages.map(\.stage), ["first", "second"], "a nested stage finishes first")
    XCTAssertGreaterThanOrEqual(stages[1].seconds, stages[0].seconds, "the outer stage holds the inner one")
    XCTAssertEqual(flops, 2 * 2 * 8 * 16 * 32, "two 8×16 by 16×32 products")

    _ = StageClock.measure("after") { a.matmul(b) }
    StageClock.start()
    XCTAssertEqual(StageClock.stop().count, 0, "nothing is kept from before start or after stop")
    XCTAssertEqual(StageClock.countedFlops, 0)
  }
}
