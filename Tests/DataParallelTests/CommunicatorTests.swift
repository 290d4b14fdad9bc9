import DataParallel
import NN
import TensorCore
import XCTest

final class CommunicatorTests: XCTestCase {
  func testBucketsFillInOrderUpToTheCapacityAndGiveAnOversizedTensorItsOwn() {
    XCTAssertEqual(GradientAverager.buckets(counts: [3, 4, 2, 10, 1], capacity: 8), [[0, 1], [2], [3], [4]])
    XCTAssertEqual(GradientAverager.buckets(counts: [], capacity: 8), [])
    XCTAssertEqual(GradientAverager.buckets(counts: [8, 8], capacity: 8), [[0], [1]])
  }

  func testThePlanCountsEveryTrainableFloatOnce() {
    let parameters = [Parameter(.zeros([1000])), Parameter(.zeros([3, 5]))]
    let averager = GradientAverager(communicator: SingleProcess(), bucketBytes: 2000)
    let plan = averager.plan(for: parameters)
    XCTAssertEqual(plan.bytes, 1015 * 4)
    XCTAssertEqual(plan.buckets, 2, "the 15 floats, then the 1000 that do not fit beside them")
  }

  func testOneProcessLeavesGradientsAndValuesUntouched() {
    let communicator = SingleProcess()
    let parameter = Parameter(Tensor(shape: [3], values: [1, 2, 3]))
    parameter.setGrad(Tensor(shape: [3], values: [0.1, -0.2, 0.3]))
    let averager = GradientAverager(communicator: communicator)
    averager.average([parameter])
    XCTAssertEqual(parameter.grad?.scalars, [0.1, -0.2, 0.3])
    XCTAssertEqual(averager.steps, 0, "one process does not even time an averaging")
    var values: [Float] = [1.5, 2.5]
    communicator.sum(&values)
    XCTAssertEqual(values, [1.5, 2.5])
    XCTAssertEqual(communicator.mean([4, 6]), [4, 6])
    XCTAssertEqual(communicator.count(true), 1)
  }

  func testTheLaunchEnvironmentReadsTheLaunchersRankCount() {
    XCTAssertFalse(LaunchEnvironment([:]).isLaunched)
    XCTAssertEqual(LaunchEnvironment(["OMPI_COMM_WORLD_SIZE": "4"]).launcherSize?.size, 4)
    XCTAssertEqual(LaunchEnvironment(["PMI_SIZE": "2"]).launcherSize?.variable, "PMI_SIZE")
    XCTAssertEqual(LaunchEnvironment(["SLURM_STEP_NUM_TASKS": "8"]).launcherSize?.size, 8)
    XCTAssertFalse(LaunchEnvironment(["OMPI_COMM_WORLD_SIZE": "many"]).isLaunched)
  }

  func testABuildWithoutMPIRefusesToBeOneOfSeveralRanks() throws {
    XCTAssertEqual(try Communicators.forThisProcess(LaunchEnvironment([:])).size, 1)
    guard !Communicators.mpiIsBuiltIn else { throw XCTSkip("this build links MPI") }
    XCTAssertEqual(try Communicators.forThisProcess(LaunchEnvironment(["OMPI_COMM_WORLD_SIZE": "1"])).size, 1)
    XCTAssertThrowsError(try Communicators.forThisProcess(LaunchEnvironment(["OMPI_COMM_WORLD_SIZE": "2"]))) {
      XCTAssertTrue("\($0)".contains("built without MPI"), "\($0)")
      XCTAssertTrue("\($0)".contains("OMPI_COMM_WORLD_SIZE=2"), "\($0)")
    }
  }

  func testTheFingerprintSeesEveryBitAndTheNumbers() {
    let tensors = ["a": Tensor(shape: [2], values: [1, 2]), "b": Tensor(shape: [1], values: [3])]
    let fingerprint = StateFingerprint.of(tensors, numbers: [5])
    XCTAssertEqual(fingerprint, StateFingerprint.of(tensors, numbers: [5]))
    XCTAssertNotEqual(fingerprint, StateFingerprint.of(tensors, numbers: [6]))
    var changed = tensors
    changed["b"] = Tensor(shape: [1], values: [Float(3).nextUp])
    XCTAssertNotEqual(fingerprint, StateFingerprint.of(changed, numbers: [5]))
  }
}
