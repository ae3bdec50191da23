namespace FedMM.Learning.Privacy;

/// <summary>
/// A site refused to run a round because its mechanisms would take the site's ε past
/// privacy.targetEpsilon (docs/PRIVACY.md, "Budget"). Nothing was trained or released.
/// </summary>
public sealed class PrivacyBudgetException(string message) : InvalidOperationException(message);
