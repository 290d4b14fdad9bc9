import NN
import TensorCore

/// The `classifier` sub-slot of dense heads: scores region features against T targets, either the prompt's tokens
/// (`alignment`, grounding) or a fixed class list (`linear`, a closed-set detector). Classifiers register in
/// `Registries.classifiers`; a head's `classifier:` key picks one, and its builder reads its own keys from the head
/// section. The builder's `context.inputSpecs` are the levels the classifier scores (the tower's width).
public protocol RegionClassifier: Module {
  /// Whether the logits score the prompt's tokens, so padding tokens are masked out of the loss.
  var scoresPromptTokens: Bool { get }
  /// regions `[N, P, C]`, tokens `[N, T, D]` → logits `[N, P, T]` (T = tokens, or classes).
  func callAsFunction(regions: Tensor, tokens: Tensor) -> Tensor
}
