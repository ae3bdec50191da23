namespace FedMM.Learning.Data;

/// <summary>
/// Gathers problems while a file set is checked, so that one run reports all of them (up to a
/// cap) instead of stopping at the first.
/// </summary>
internal sealed class DataErrorCollector(int maxRecorded)
{
    private readonly List<DataError> _errors = [];

    /// <summary>Problems found so far, recorded or not.</summary>
    public int Count { get; private set; }

    /// <summary>Whether any problem was found.</summary>
    public bool Any => Count > 0;

    /// <summary>Records a problem (or only counts it once the cap is reached).</summary>
    public void Add(string file, int line, string field, string message)
    {
        Count++;
        if (_errors.Count < maxRecorded) _errors.Add(new DataError(file, line, field, message));
    }

    /// <summary>Throws a <see cref="DataFormatException"/> with everything found, if anything was.</summary>
    public void ThrowIfAny()
    {
        if (Count > 0) throw new DataFormatException(_errors.ToArray(), Count);
    }
}
