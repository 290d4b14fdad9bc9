import Foundation
import TensorCoreTestSupport
import XCTest

@testable import TensorCore

final class CoreTests: XCTestCase {
  func testMatchesPyTorchFixtures() throws {
    try OpFixtures.run(group: "core") { fixture, inputs in
      switch fixture.op {
      case "arange": return [Tensor.arange(fixture.float("start"), fixture.float("end"), step: fixture.float("step"))]
      case "reshape": return [inputs[0].reshaped(fixture.ints("shape"))]
      default: return nil
      }
    }
  }

  func testReshapeGradientMatchesFiniteDifferences() {
    GradientChecker.check([Tensor.normal([2, 6], seed: 3)]) { $0[0].reshaped([3, -1]) * Tensor.arange(4) }
  }

  func testReshapeSharesStorageUntilWritten() {
    let original = Tensor.arange(6)
    var reshaped = original.reshaped([2, 3])
    reshaped[flat: 0] = 42
    XCTAssertEqual(original[flat: 0], 0)
    XCTAssertEqual(reshaped.shape, [2, 3])
  }

  func testBackwardThroughSharedSubgraphVisitsEachNodeOnce() {
    var x = Tensor(shape: [2], values: [1, 2])
    x.requiresGrad = true
    let shared = x * x
    let y = (shared + shared * 3).sum()
    y.backward()
    assertClose(x.grad!, [8, 16])
  }

  func testSafetensorsRoundTripAndErrors() throws {
    let path = NSTemporaryDirectory() + "roundtrip-\(getpid()).safetensors"
    defer { try? FileManager.default.removeItem(atPath: path) }
    let file = SafetensorsFile(
      tensors: ["a.weight": Tensor.normal([2, 3], seed: 1), "b": Tensor(scalar: 5)], metadata: ["format": "pt"])
    try file.write(path: path)
    let loaded = try SafetensorsFile.read(path: path)
    XCTAssertEqual(loaded.names, ["a.weight", "b"])
    XCTAssertEqual(loaded["a.weight"]?.scalars, file["a.weight"]?.scalars)
    XCTAssertEqual(loaded["b"]?.shape, [])
    XCTAssertEqual(loaded.metadata["format"], "pt")

    var truncated = try Data(contentsOf: URL(fileURLWithPath: path))
    truncated.removeLast(4)
    XCTAssertThrowsError(try SafetensorsFile.parse(truncated, path: "model.safetensors")) { error in
      XCTAssertTrue("\(error)".hasPrefix("model.safetensors: tensor"), "\(error)")
    }
    XCTAssertThrowsError(try SafetensorsFile.parse(Data([1, 2, 3]), path: "tiny.safetensors")) { error in
      XCTAssertTrue("\(error)".contains("too short"), "\(error)")
    }
    XCTAssertThrowsError(try SafetensorsFile.read(path: path + ".missing")) { error in
      XCTAssertTrue("\(error)".contains(".missing: cannot read file"), "\(error)")
    }
  }

  func testHalfPrecisionDecoding() throws {
    // F16 values 1.0 (0x3C00), -2.0 (0xC000), 2^-24 (0x0001) and BF16 1.5 (0x3FC0).
    let header =
      #"{"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[6,8]}}"#
    var data = Data()
    withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
    data.append(header.data(using: .utf8)!)
    data.append(contentsOf: [0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00, 0xC0, 0x3F])
    let file = try SafetensorsFile.parse(data)
    XCTAssertEqual(file["h"]?.scalars, [1, -2, Float(sign: .plus, exponent: -24, significand: 1)])
    XCTAssertEqual(file["b"]?.scalars, [1.5])
  }
}

final class SafetensorsFixtureTests: XCTestCase {
  func testReadsEveryDtypeWrittenByPythonSafetensors() throws {
    let file = try SafetensorsFile.read(path: Fixtures.path("safetensors/dtypes.safetensors"))
    XCTAssertEqual(file.metadata["note"], "written by safetensors")
    for name in ["f32", "f16", "bf16", "f64", "i64", "i32", "u8", "bool", "scalar", "empty", "bn.num_batches_tracked"] {
      let tensor = try XCTUnwrap(file[name], name)
      let expected = try XCTUnwrap(file[name + ".expected"], name)
      XCTAssertEqual(tensor.shape, expected.shape, name)
      XCTAssertEqual(tensor.scalars, expected.scalars, name)
    }
    XCTAssertEqual(file["scalar"]?.shape, [])
    XCTAssertEqual(file["empty"]?.shape, [0, 3])
  }

  func testRejectsOverlappingAndTruncatedLayouts() {
    func file(_ header: String, payload: Int) -> Data {
      var data = Data()
      withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
      data.append(header.data(using: .utf8)!)
      data.append(Data(count: payload))
      return data
    }
    let overlapping =
      #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
    XCTAssertThrowsError(try SafetensorsFile.parse(file(overlapping, payload: 8), path: "x.safetensors")) {
      XCTAssertTrue("\($0)".contains("x.safetensors: tensor 'b' overlaps"), "\($0)")
    }
    let padded = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
    XCTAssertThrowsError(try SafetensorsFile.parse(file(padded, payload: 12), path: "y.safetensors")) {
      XCTAssertTrue("\($0)".contains("tensors cover 4"), "\($0)")
    }
    let badDtype = #"{"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}"#
    XCTAssertThrowsError(try SafetensorsFile.parse(file(badDtype, payload: 8), path: "z.safetensors")) {
      XCTAssertTrue("\($0)".contains("unsupported dtype C64"), "\($0)")
    }
    XCTAssertThrowsError(try SafetensorsFile.parse(file("{not json", payload: 0), path: "j.safetensors")) {
      XCTAssertTrue("\($0)".contains("j.safetensors: header is not valid JSON"), "\($0)")
    }
  }
}

final class BufferPoolTests: XCTestCase {
  func testCapacityClassesBoundWaste() {
    XCTAssertEqual(BufferPool.capacity(for: 10), 64)
    XCTAssertEqual(BufferPool.capacity(for: 1000), 1024)
    for bytes in [256 << 10, 300_001, 37_748_736, 100_000_000] {
      let capacity = BufferPool.capacity(for: bytes)
      XCTAssertGreaterThanOrEqual(capacity, bytes)
      XCTAssertLessThanOrEqual(Double(capacity), Double(bytes) * 1.125 + 64)
    }
  }

  func testLargeBuffersAreReusedAndValuesStayCorrect() {
    BufferPool.shared.drain()
    do {
      let first = Tensor.full([512, 512], 3)
      XCTAssertEqual(first[flat: 512 * 512 - 1], 3)
    }
    XCTAssertGreaterThan(BufferPool.shared.cachedByteCount, 0, "a released large buffer is kept")
    let second = Tensor.zeros([512, 512])
    XCTAssertEqual(BufferPool.shared.cachedByteCount, 0, "the same size class is handed out again")
    XCTAssertEqual(second.scalars.max(), 0, "reused memory is initialised by the creating op")
  }

  /// Two alternating "steps" whose buffers have different sizes: kept buffers are resized for the other step's
  /// sizes instead of piling up, so live and kept bytes stay within an eighth over the most ever live at once.
  func testKeptBuffersStayWithinAnEighthOfThePeakWhenSizesChange() {
    let pool = BufferPool(limitBytes: nil, minimumRoomBytes: 0)
    let megabyte = 1 << 20
    let steps = [[4, 4, 4, 4, 4, 4, 4, 4], [3, 3, 3, 3, 5, 5, 5, 6, 1], [8, 2, 2, 7, 7, 1, 1]]
    var peakSeen = 0
    for round in 0..<4 {
      for (index, sizes) in steps.enumerated() {
        var buffers: [(UnsafeMutableRawPointer, Int)] = []
        for (position, size) in sizes.enumerated() {
          let buffer = pool.allocate(bytes: size * megabyte)
          XCTAssertGreaterThanOrEqual(buffer.capacity, size * megabyte)
          let bytes = buffer.pointer.bindMemory(to: UInt8.self, capacity: buffer.capacity)
          let mark = UInt8(truncatingIfNeeded: round * 31 + index * 7 + position)
          bytes.update(repeating: mark, count: buffer.capacity)
          XCTAssertEqual(bytes[buffer.capacity - 1], mark, "the whole capacity is writable")
          buffers.append(buffer)
          peakSeen = max(peakSeen, pool.liveByteCount)
          XCTAssertLessThanOrEqual(
            pool.liveByteCount + pool.cachedByteCount, peakSeen + peakSeen / 8,
            "round \(round), step \(index), buffer \(position)")
        }
        for buffer in buffers { pool.release(buffer.0, capacity: buffer.1) }
      }
    }
    XCTAssertEqual(pool.liveByteCount, 0)
    XCTAssertEqual(pool.peakLiveBytes, peakSeen)
    XCTAssertGreaterThan(pool.cachedByteCount, 0, "released buffers are kept for the next step")
    pool.drain()
    XCTAssertEqual(pool.cachedByteCount, 0)
  }

  /// Over the bound, a request takes the kept buffer closest in size: the 3 MB one grows to 4 MB, and the 8 MB one
  /// stays kept for its own size.
  func testARequestOverTheBoundResizesTheKeptBufferClosestInSize() {
    let pool = BufferPool(limitBytes: nil, minimumRoomBytes: 0)
    let megabyte = 1 << 20
    let large = pool.allocate(bytes: 8 * megabyte), small = pool.allocate(bytes: 3 * megabyte)
    let held = pool.allocate(bytes: 5 * megabyte)
    pool.release(large.pointer, capacity: large.capacity)
    pool.release(small.pointer, capacity: small.capacity)
    let request = pool.allocate(bytes: 4 * megabyte)
    XCTAssertEqual(pool.cachedByteCount, 8 * megabyte, "the 8 MB buffer is still kept")
    XCTAssertEqual(pool.liveByteCount, 9 * megabyte)
    request.pointer.bindMemory(to: UInt8.self, capacity: request.capacity).update(repeating: 7, count: request.capacity)
    let reused = pool.allocate(bytes: 8 * megabyte)
    XCTAssertEqual(pool.cachedByteCount, 0, "and served the next 8 MB request")
    for buffer in [request, reused, held] { pool.release(buffer.pointer, capacity: buffer.capacity) }
    pool.drain()
  }

  func testALimitOfZeroKeepsNothing() {
    let pool = BufferPool(limitBytes: 0)
    let buffer = pool.allocate(bytes: 1 << 20)
    pool.release(buffer.pointer, capacity: buffer.capacity)
    XCTAssertEqual(pool.cachedByteCount, 0)
    XCTAssertEqual(pool.liveByteCount, 0)
  }
}
