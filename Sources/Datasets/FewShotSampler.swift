import TensorCore

/// GLIP's few-shot split: k images per category, where an image counts for every category it holds.
///
/// The records are shuffled with `seed` (seed 0 keeps their order, as GLIP's `shuffle_seed: 0`), then taken greedily:
/// an image is kept when one of its categories still needs shots, and every category it holds counts it. A kept image
/// keeps all its boxes. So each category gets at least k images where the data has them (more when images it
/// shares with other categories are kept for those), as in GLIP's and ODinW's few-shot protocols.
public enum FewShotSampler {
  /// The indices of `records` in the split, in the shuffled order they were taken. Records without categories (captions)
  /// or without boxes are never taken.
  public static func select(_ records: [GroundingRecord], shots: Int, seed: Int) -> [Int] {
    precondition(shots > 0, "few-shot: shots must be positive")
    var order = Array(records.indices)
    if seed != 0 {
      var random = SeededGenerator(seed: UInt64(seed) &* 0x9E37_79B9 &+ 0xF3)
      order.shuffle(using: &random)
    }
    var needed: [Int: Int] = [:]
    for record in records { for category in record.categories ?? [] { needed[category] = shots } }
    var selected: [Int] = []
    for index in order {
      let categories = Set(records[index].categories ?? [])
      guard categories.contains(where: { needed[$0, default: 0] > 0 }) else { continue }
      selected.append(index)
      for category in categories { needed[category, default: 0] -= 1 }
    }
    return selected
  }

  /// Categories with fewer than `shots` images in the split (the data holds fewer), by id with their image counts.
  public static func shortfall(_ records: [GroundingRecord], selected: [Int], shots: Int) -> [Int: Int] {
    var counts: [Int: Int] = [:]
    for record in records { for category in Set(record.categories ?? []) { counts[category, default: 0] += 0 } }
    for index in selected { for category in Set(records[index].categories ?? []) { counts[category, default: 0] += 1 } }
    return counts.filter { $0.value < shots }
  }
}
