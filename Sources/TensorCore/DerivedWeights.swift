/// Tensors derived from weights (reordered, scaled, packed), each kept while its weight's storage is alive and
/// unchanged. Not thread-safe: its owner locks.
///
/// An entry holds the weight itself, so an in-place update of the weight (an optimizer step, through copy-on-write)
/// finds its storage shared and writes to a copy: the storage then differs, and the entry no longer matches. Entries
/// whose weight only the store still holds are dropped on each insertion, and the least recently used go once the
/// derived tensors pass `limitFloats`.
struct DerivedWeights<Variant> {
  let limitFloats: Int
  private var entries: [(source: Tensor, variant: Variant, derived: Tensor)] = []

  init(limitFloats: Int) { self.limitFloats = limitFloats }

  /// Floats the derived tensors hold.
  var floats: Int { entries.reduce(0) { $0 + $1.derived.count } }

  /// How many tensors are derived from `weight`.
  func count(derivedFrom weight: Tensor) -> Int { entries.filter { $0.source.storage === weight.storage }.count }

  /// The tensor derived from `weight` as `variant` (one that `isSame` accepts), made by `derive` on first use.
  mutating func derived(
    from weight: Tensor, _ variant: Variant, isSame: (Variant) -> Bool, derive: () throws -> Tensor
  ) rethrows -> Tensor {
    if let index = entries.firstIndex(where: { $0.source.storage === weight.storage && isSame($0.variant) }) {
      let entry = entries.remove(at: index)
      entries.append(entry)
      return entry.derived
    }
    let derived = try derive()
    dropStale()
    entries.append((weight, variant, derived))
    var floats = self.floats
    while floats > limitFloats, entries.count > 1 {
      floats -= entries.removeFirst().derived.count
    }
    return derived
  }

  /// Drops the entries whose weight only the store still holds (updated or released).
  mutating func dropStale() {
    for index in entries.indices.reversed() where isKnownUniquelyReferenced(&entries[index].source.storage) {
      entries.remove(at: index)
    }
  }
}
