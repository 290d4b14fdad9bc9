import TensorCore

/// A trainable tensor owned by a `Module`. A reference type, so the module, the optimizer and the caller share it.
///
/// A frozen parameter's tensor does not require grad: no graph is recorded through it, it gets no gradient and the
/// optimizer keeps no state for it. A *fixed* parameter (frozen batch norm's affine) is frozen for good: the layer
/// never passes it a gradient, so unfreezing leaves it frozen and it never counts as trainable.
public final class Parameter {
  public private(set) var value: Tensor
  /// Never trainable, whatever is unfrozen.
  public let isFixed: Bool
  private var frozenSetting: Bool

  public var isFrozen: Bool {
    get { isFixed || frozenSetting }
    set {
      frozenSetting = newValue
      value.requiresGrad = !isFrozen
    }
  }

  public init(_ value: Tensor, frozen: Bool = false, fixed: Bool = false) {
    self.value = value.detached()
    self.isFixed = fixed
    self.frozenSetting = frozen
    self.value.requiresGrad = !(frozen || fixed)
  }

  public var shape: [Int] { value.shape }
  public var count: Int { value.count }
  public var grad: Tensor? { value.grad }

  public func zeroGrad() { value.grad = nil }

  /// Replaces the accumulated gradient (for clipping and tests).
  public func setGrad(_ grad: Tensor?) { value.grad = grad }

  /// Replaces the values (same shape), keeping the parameter a leaf with its frozen state.
  public func assign(_ newValue: Tensor) {
    precondition(newValue.shape == value.shape, "assign: shape \(newValue.shape) != parameter shape \(value.shape)")
    value = newValue.detached()
    value.requiresGrad = !isFrozen
  }

  /// In-place update of the values for optimizers; the autograd leaf (and its accumulated grad) is kept.
  public func update(_ body: (UnsafeMutableBufferPointer<Float>) -> Void) {
    value.withUnsafeMutableBufferPointer(body)
  }
}

/// A non-trainable tensor saved with the module's state, such as BatchNorm's running statistics.
public final class Buffer {
  public var value: Tensor
  public init(_ value: Tensor) { self.value = value.detached() }
}
