import Foundation
import TensorCore
import XCTest

final class ProcessMemoryTests: XCTestCase {
  /// The peak must cover a known allocation once its pages are touched, on top of what was resident before it.
  func testPeakResidentCoversAKnownAllocation() throws {
    #if os(Linux)
      let before = try XCTUnwrap(ProcessMemory.residentBytes)
      let size = 256 << 20
      let block = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
      defer { block.deallocate() }
      for page in stride(from: 0, to: size, by: 4096) { block.storeBytes(of: 1, toByteOffset: page, as: UInt8.self) }
      let peak = try XCTUnwrap(ProcessMemory.peakResidentBytes)
      XCTAssertGreaterThanOrEqual(peak, before + size * 95 / 100)
    #else
      throw XCTSkip("VmHWM is read from /proc on Linux only")
    #endif
  }
}
