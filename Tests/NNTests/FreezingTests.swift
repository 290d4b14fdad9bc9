import NN
import TensorCore
import XCTest

final class FreezingTests: XCTestCase {
  private func model() -> Module {
    var generator = SeededGenerator(seed: 0)
    let model = Module()
    model.register("norm", FrozenBatchNorm2d(4))
    model.register("linear", Linear(4, 2, generator: &generator))
    return model
  }

  func testFrozenBatchNormAffineIsFixedAndNeverCountedTrainable() throws {
    let model = model()
    model.unfreezeAll()
    try model.unfreeze(matching: ["*"])
    XCTAssertEqual(model.trainableParameterCount, 4 * 2 + 2, "only the linear layer trains")
    for (key, parameter) in model.namedParameters() where key.hasPrefix("norm.") {
      XCTAssertTrue(parameter.isFixed && parameter.isFrozen, key)
      XCTAssertFalse(parameter.value.requiresGrad, key)
    }
  }

  func testUnfreezingOnlyFixedParametersIsAnError() throws {
    let model = model()
    XCTAssertThrowsError(try model.unfreeze(matching: ["norm.*"])) { error in
      XCTAssertEqual(error as? ModuleError, .patternMatchesOnlyFixed(pattern: "norm.*"))
    }
    XCTAssertNoThrow(try model.freeze(matching: ["norm.*"]), "freezing fixed parameters again is harmless")
  }
}
