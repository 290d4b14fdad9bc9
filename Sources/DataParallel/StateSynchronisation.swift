import Foundation
import NN
import TensorCore

extension Communicator {
  /// Copies rank `root`'s parameters and buffers into `module` on every rank, in place (parameters stay the
  /// optimizer's leaves), in pieces of at most `GradientAverager.defaultBucketBytes`.
  public func broadcastState(of module: Module, from root: Int) {
    guard size > 1 else { return }
    let slots = StateSlot.all(of: module)
    let capacity = GradientAverager.defaultBucketBytes / MemoryLayout<Float>.size
    let groups = GradientAverager.buckets(counts: slots.map(\.count), capacity: capacity)
    let totals = groups.map { $0.reduce(0) { $0 + slots[$1].count } }
    var buffer = [Float](repeating: 0, count: totals.max() ?? 0)
    buffer.withUnsafeMutableBufferPointer { pointer in
      for (group, total) in zip(groups, totals) {
        var offset = 0
        for index in group {
          slots[index].read(pointer.baseAddress! + offset)
          offset += slots[index].count
        }
        broadcast(UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: pointer[0..<total])), from: root)
        offset = 0
        for index in group {
          slots[index].write(pointer.baseAddress! + offset)
          offset += slots[index].count
        }
      }
    }
  }

  /// Throws on every rank unless every rank holds the same bytes as rank 0 in `tensors` (in key order) and the same
  /// `numbers`; `what` names them in the error.
  public func verifyAgreement(_ tensors: [String: Tensor], numbers: [Int], what: String) throws {
    guard size > 1 else { return }
    let fingerprint = StateFingerprint.of(tensors, numbers: numbers)
    let reference = broadcast(fingerprint, from: 0)
    let disagreeing = count(fingerprint != reference)
    guard disagreeing == 0 else {
      throw DataParallelError(
        "\(disagreeing) of \(size) ranks disagree with rank 0 on \(what) (fingerprint \(String(fingerprint, radix: 16)) "
          + "on rank \(rank), \(String(reference, radix: 16)) on rank 0); every rank must start from the same files")
    }
  }
}

/// FNV-1a over 64-bit words of the tensors' bytes in key order, their shapes and some integers.
public enum StateFingerprint {
  public static func of(_ tensors: [String: Tensor], numbers: [Int] = []) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    func mix(_ word: UInt64) { hash = (hash ^ word) &* 0x0000_0100_0000_01B3 }
    for number in numbers { mix(UInt64(bitPattern: Int64(number))) }
    for key in tensors.keys.sorted() {
      let tensor = tensors[key]!
      for byte in key.utf8 { mix(UInt64(byte)) }
      for dimension in tensor.shape { mix(UInt64(dimension)) }
      tensor.withUnsafeBufferPointer { values in
        for value in values { mix(UInt64(value.bitPattern)) }
      }
    }
    return hash
  }
}

/// A parameter's or a buffer's values, read and written in place.
struct StateSlot {
  let count: Int
  let read: (UnsafeMutablePointer<Float>) -> Void
  let write: (UnsafePointer<Float>) -> Void

  static func all(of module: Module) -> [StateSlot] {
    let parameters = module.namedParameters().map { _, parameter in
      StateSlot(
        count: parameter.count,
        read: { destination in parameter.value.withUnsafeBufferPointer { copy($0, to: destination) } },
        write: { source in parameter.update { $0.baseAddress!.update(from: source, count: $0.count) } })
    }
    let buffers = module.namedBuffers().map { _, buffer in
      StateSlot(
        count: buffer.value.count,
        read: { destination in buffer.value.withUnsafeBufferPointer { copy($0, to: destination) } },
        write: { source in
          buffer.value = Tensor(
            shape: buffer.value.shape, values: Array(UnsafeBufferPointer(start: source, count: buffer.value.count)))
        })
    }
    return parameters + buffers
  }

  private static func copy(_ values: UnsafeBufferPointer<Float>, to destination: UnsafeMutablePointer<Float>) {
    guard let base = values.baseAddress else { return }
    destination.update(from: base, count: values.count)
  }
}
