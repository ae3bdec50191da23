namespace FedMM.Grains.Aggregation;

/// <summary>The round cannot produce a global package (for example too few usable updates); the message is the round's failure reason.</summary>
public sealed class RoundFailedException(string reason) : Exception(reason);
