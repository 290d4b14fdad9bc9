import Datasets
import Foundation
import TensorCore
import TensorCoreTestSupport
import XCTest

/// `mpirun -np 2 glip train` against one process, with a `glip` built with `--traits MPI`: `make mpi-test` builds it
/// and names it in `GLIP_MPI_BINARY`. Without that variable the tests skip; without `mpirun` they skip with a
/// message, except under `CI=true`, where a missing Open MPI is a failure.
final class MPITrainingTests: XCTestCase {
  /// With SGD, 2 ranks × 2 images and 1 process × 4 images differ only by the order in which the ranks' shares are
  /// summed: after 4 steps at lr 0.01 every parameter agrees within this fp32 tolerance.
  static let sgdTolerance: Float = 1e-6
  /// With AdamW, the normalised update (m / √v, about ±lr per step whatever the gradient's size) turns float rounding
  /// in a gradient near zero into a different update of up to 2·lr. Nearly every element must still agree to rounding,
  /// and the few that do not by at most 2·lr per step; a rank that trained on its own share, or unaveraged or unreduced
  /// terms, would move most elements by about lr.
  static let adamLargestDrift: Float = 4 * 2 * 0.01
  static let adamDriftingFraction = 0.01

  private var directory = ""
  private var binary = ""
  private var mpirun = ""

  override func setUpWithError() throws {
    guard let path = ProcessInfo.processInfo.environment["GLIP_MPI_BINARY"], !path.isEmpty else {
      throw XCTSkip("GLIP_MPI_BINARY not set: `make mpi-test` builds glip with --traits MPI and runs these tests")
    }
    guard FileManager.default.isExecutableFile(atPath: path) else {
      throw MPITestError("GLIP_MPI_BINARY=\(path) is not an executable")
    }
    guard let found = MPITrainingTests.onPath("mpirun") else {
      if ProcessInfo.processInfo.environment["CI"] == "true" {
        throw MPITestError("mpirun is missing under CI: `make mpi-test` installs openmpi-bin first")
      }
      throw XCTSkip("mpirun not found (apt-get install openmpi-bin libopenmpi-dev, or make mpi-test)")
    }
    (binary, mpirun) = (path, found)
    directory = NSTemporaryDirectory() + "mpi-\(getpid())-\(UUID().uuidString)"
    try SyntheticDatasetWriter.write(to: directory + "/data", images: 8, seed: 5, size: 64)
  }

  override func tearDownWithError() throws {
    if !directory.isEmpty { try? FileManager.default.removeItem(atPath: directory) }
  }

  func testTwoRanksTrainTheModelOneProcessTrainsAtTheSameGlobalBatch() throws {
    let differences = try compareTwoRanksWithOneProcess(
      optimizer: "optimizer: sgd, momentum: 0.9, weight_decay: 0.0001")
    XCTAssertLessThanOrEqual(differences.max() ?? 0, MPITrainingTests.sgdTolerance, "largest parameter difference")
  }

  func testWithAdamWOnlyRoundingNearZeroGradientsDrifts() throws {
    let differences = try compareTwoRanksWithOneProcess(optimizer: "weight_decay: 0.05")
    XCTAssertLessThanOrEqual(differences.max() ?? 0, MPITrainingTests.adamLargestDrift, "largest parameter difference")
    let drifting = differences.filter { $0 > MPITrainingTests.sgdTolerance }.count
    XCTAssertLessThanOrEqual(
      Double(drifting) / Double(differences.count), MPITrainingTests.adamDriftingFraction,
      "\(drifting) of \(differences.count) parameter elements differ by more than \(MPITrainingTests.sgdTolerance)")
  }

  /// Trains 4 steps as 1 process × 4 images and as 2 ranks × 2 images; returns every parameter element's absolute
  /// difference, after checking that only rank 0 reported and the loss curves agree.
  private func compareTwoRanksWithOneProcess(optimizer: String) throws -> [Float] {
    let config = try writeConfig(
      train: "{batch_size: 4, iterations: 4, lr: 0.01, warmup: 2, log_every: 1, \(optimizer)}")
    let single = try run([binary, "train", "--config", config, "--out", directory + "/single"])
    XCTAssertEqual(single.status, 0, single.output)
    XCTAssertTrue(single.output.contains("ranks: 1, batch per rank: 4, global batch: 4"), single.output)
    let parallel = try run(mpi(ranks: 2) + [binary, "train", "--config", config, "--out", directory + "/parallel"])
    XCTAssertEqual(parallel.status, 0, parallel.output)
    XCTAssertTrue(parallel.output.contains("ranks: 2, batch per rank: 2, global batch: 4"), parallel.output)
    XCTAssertEqual(parallel.output.components(separatedBy: "training on ").count, 2, "only rank 0 reports")

    let (singleLosses, parallelLosses) = (try losses(directory + "/single"), try losses(directory + "/parallel"))
    XCTAssertEqual(singleLosses.count, 4)
    XCTAssertEqual(parallelLosses.count, 4, "one metrics line per step, from rank 0 alone")
    for (lhs, rhs) in zip(singleLosses, parallelLosses) { XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * max(1, lhs)) }

    let expected = try parameters(directory + "/single/checkpoints/final.safetensors")
    let actual = try parameters(directory + "/parallel/checkpoints/final.safetensors")
    XCTAssertEqual(Set(expected.keys), Set(actual.keys))
    return expected.keys.sorted().flatMap { key in
      zip(expected[key]!.scalars, actual[key]?.scalars ?? []).map { abs($0 - $1) }
    }
  }

  func testAResumedRunUnderMPIContinuesBitForBit() throws {
    let config = try writeConfig(
      train: "{batch_size: 4, iterations: 6, lr: 0.01, warmup: 2, checkpoint_every: 3, keep_checkpoints: 0}")
    let straight = directory + "/straight"
    let first = try run(mpi(ranks: 2) + [binary, "train", "--config", config, "--out", straight])
    XCTAssertEqual(first.status, 0, first.output)

    let resumed = directory + "/resumed"
    try FileManager.default.createDirectory(atPath: resumed + "/checkpoints", withIntermediateDirectories: true)
    try FileManager.default.copyItem(
      atPath: straight + "/checkpoints/step_3.safetensors", toPath: resumed + "/checkpoints/step_3.safetensors")
    let metrics = try String(contentsOfFile: straight + "/metrics.jsonl", encoding: .utf8)
    try metrics.components(separatedBy: "\n").prefix(3).map { $0 + "\n" }.joined()
      .write(toFile: resumed + "/metrics.jsonl", atomically: true, encoding: .utf8)
    let second = try run(mpi(ranks: 2) + [binary, "train", "--config", config, "--out", resumed, "--resume"])
    XCTAssertEqual(second.status, 0, second.output)
    XCTAssertTrue(second.output.contains("after step 3"), second.output)

    let expected = try parameters(straight + "/checkpoints/final.safetensors")
    let actual = try parameters(resumed + "/checkpoints/final.safetensors")
    for (key, value) in expected { XCTAssertEqual(actual[key]?.scalars, value.scalars, key) }
    XCTAssertEqual(try String(contentsOfFile: resumed + "/metrics.jsonl", encoding: .utf8), metrics)
  }

  func testAKilledRankEndsTheJobQuicklyAndLeavesTheLastCheckpointIntact() throws {
    let config = try writeConfig(
      train: "{batch_size: 4, iterations: 100000, lr: 0.001, warmup: 2, checkpoint_every: 2, keep_checkpoints: 2}")
    let out = directory + "/killed"
    let job = Process()
    job.executableURL = URL(fileURLWithPath: mpirun)
    job.arguments = Array(mpi(ranks: 2).dropFirst()) + [binary, "train", "--config", config, "--out", out]
    job.environment = MPITrainingTests.environment
    job.standardOutput = FileHandle.nullDevice
    job.standardError = FileHandle.nullDevice
    try job.run()
    defer { if job.isRunning { job.terminate() } }
    let checkpoint = try waitFor(seconds: 120) { () -> String? in
      let names = (try? FileManager.default.contentsOfDirectory(atPath: out + "/checkpoints")) ?? []
      return names.first { $0.hasPrefix("step_") && $0.hasSuffix(".safetensors") }
    }
    let rankOne = try waitFor(seconds: 30) { MPITrainingTests.rank(1, childOf: job.processIdentifier) }
    let killed = Date()
    kill(rankOne, SIGKILL)
    job.waitUntilExit()
    let seconds = Date().timeIntervalSince(killed)
    XCTAssertNotEqual(job.terminationStatus, 0, "mpirun reports the lost rank")
    XCTAssertLessThan(seconds, 30, "mpirun ends the other rank at once")
    XCTAssertNotNil(checkpoint)
    let names = try FileManager.default.contentsOfDirectory(atPath: out + "/checkpoints")
    let newest = names.compactMap { name -> Int? in
      guard name.hasPrefix("step_"), name.hasSuffix(".safetensors") else { return nil }
      return Int(name.dropFirst(5).dropLast(12))
    }.max()
    let file = try SafetensorsFile.read(path: out + "/checkpoints/step_\(newest!).safetensors")
    XCTAssertEqual(file.metadata["steps"], "\(newest!)", "the newest checkpoint reads back whole")
  }

  // MARK: Helpers

  static let environment: [String: String] = ProcessInfo.processInfo.environment.merging([
    // As root (CI containers) Open MPI refuses to start without these.
    "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
  ]) { $1 }

  /// `mpirun` on this machine: more ranks than cores allowed, ranks not pinned to one core, shared memory between them.
  private func mpi(ranks: Int) -> [String] {
    [mpirun, "--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,vader", "-np", "\(ranks)"]
  }

  /// A tiny grounding model with deep fusion, learned class embeddings and an ATSS head, without dropout: none in the
  /// fusion, and no BERT text layers after it (theirs is 0.1). Each rank draws its own dropout masks, so a run with
  /// dropout matches one process in distribution only.
  private func writeConfig(train: String) throws -> String {
    let yaml = """
      model:
        seed: 0
        backbone: {type: tiny_cnn, channels: [8, 8, 16, 16]}
        neck: {type: fpn, channels: 16, extra_levels: 0}
        text_encoder: {type: class_embedding, classes: 5, hidden: 16, names: [circle, square, triangle, star, ring]}
        fusion: {type: bi_attention, embed_dim: 16, heads: 2, dropout: 0}
        head: {type: atss, channels: 16, blocks: 1, text_layers: false}
      data:
        train: {format: coco, annotations: "\(directory)/data/instances_shapes.json", images: "\(directory)/data"}
        image_size: 64
      train: \(train)
      """
    let path = directory + "/tiny-\(UUID().uuidString).yaml"
    try yaml.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  private func run(_ command: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: command[0])
    process.arguments = Array(command.dropFirst())
    process.environment = MPITrainingTests.environment
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, output)
  }

  private func parameters(_ path: String) throws -> [String: Tensor] { try SafetensorsFile.read(path: path).tensors }

  private func losses(_ run: String) throws -> [Float] {
    try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").compactMap { line in
      let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
      return (object?["loss"] as? NSNumber)?.floatValue
    }
  }

  private func waitFor<T>(seconds: Double, _ probe: () -> T?) throws -> T {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
      if let found = probe() { return found }
      usleep(100_000)
    }
    throw MPITestError("gave up after \(seconds) s")
  }

  /// The process of rank `rank` among the descendants of `mpirun`, found through the rank mpirun put in its
  /// environment.
  static func rank(_ rank: Int, childOf ancestor: Int32) -> Int32? {
    let processes = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    var parents: [Int32: Int32] = [:]
    for pid in processes.compactMap(Int32.init) {
      // After the command in parentheses: state, then the parent's pid.
      guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let fields = stat.split(separator: ")").last?.split(separator: " "), fields.count > 1,
        let parent = Int32(fields[1])
      else { continue }
      parents[pid] = parent
    }
    func descends(_ pid: Int32) -> Bool {
      var current = pid
      for _ in 0..<64 {
        guard let parent = parents[current], parent > 1 else { return false }
        if parent == ancestor { return true }
        current = parent
      }
      return false
    }
    for pid in parents.keys.sorted() where descends(pid) {
      guard let environment = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
      let variables = environment.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
      if variables.contains("OMPI_COMM_WORLD_RANK=\(rank)") { return pid }
    }
    return nil
  }

  static func onPath(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
  }
}

struct MPITestError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}
