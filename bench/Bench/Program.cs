using System.Globalization;
using System.Reflection;
using FedMM.Bench;
using FedMM.Learning.Runtime;
using TorchSharp;

// Before anything loads libtorch: libgomp reads its wait policy once, at load.
string waitPolicy = OpenMpWaitPolicy.Apply();
// As FedMM's computing hosts do: MKL's sgemm picks its kernels once, by CPU vendor unless told
// otherwise, and glibc keeps freed activations in its heap (the references keep their defaults).
string mklDispatch = MklCpuDispatch.Apply();
string mallocThresholds = MallocThresholds.Apply();

var benchmarks = Assembly.GetExecutingAssembly().GetTypes()
    .Where(t => typeof(IBenchmark).IsAssignableFrom(t) && t is { IsInterface: false, IsAbstract: false })
    .Select(t => (IBenchmark)Activator.CreateInstance(t)!)
    .OrderBy(b => b.Name)
    .ToList();

if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine("Usage: bench [NAME ...] [--repetitions N] [--threads N] [--python PATH]");
    Console.WriteLine("Runs FedMM benchmarks and their references (PyTorch, scikit-learn, SciPy) in one run.");
    foreach (var b in benchmarks) Console.WriteLine($"  {b.Name,-16} {b.Description}");
    return 0;
}

int repetitions = 5;
int? threadsOption = null;
string? python = ReferencePython.Find();
var selected = new List<string>();
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--repetitions": repetitions = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--python": python = args[++i]; break;
        case "--threads": threadsOption = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        default: selected.Add(args[i]); break;
    }
}
var unknown = selected.Where(s => benchmarks.All(b => b.Name != s)).ToList();
if (unknown.Count > 0)
{
    Console.Error.WriteLine($"Unknown benchmark(s): {string.Join(", ", unknown)}. Known: {string.Join(", ", benchmarks.Select(b => b.Name))}.");
    return 2;
}
if (threadsOption is { } requested)
{
    if (requested < 1) { Console.Error.WriteLine($"--threads must be at least 1, got {requested}."); return 2; }
    torch.set_num_threads(requested);
}
int threads = torch.get_num_threads();
var context = new BenchmarkContext(repetitions, python, Path.Combine(AppContext.BaseDirectory, "reference"), threads);
Console.WriteLine($"FedMM benchmarks — {Environment.ProcessorCount} cores, {repetitions} repetitions, {threads} compute threads on both sides, OMP_WAIT_POLICY={waitPolicy}");
Console.WriteLine($"FedMM: TorchSharp {typeof(torch).Assembly.GetName().Version}, {mklDispatch}, {mallocThresholds}; reference python: {python ?? "none found"}{(python is null ? "" : $" ({ReferencePython.Describe(context)})")}");
Console.WriteLine($"{"work",-52} {"FedMM s",10} {"reference",-24} {"ref s",10} {"ratio",7}  goal");
foreach (var benchmark in benchmarks.Where(b => selected.Count == 0 || selected.Contains(b.Name)))
{
    foreach (var f in benchmark.Run(context))
    {
        Console.WriteLine($"{f.Work,-52} {f.FedMMSeconds,10:F4} {f.Reference ?? "-",-24} {(f.ReferenceSeconds?.ToString("F4", CultureInfo.InvariantCulture) ?? "-"),10} {(f.Ratio?.ToString("F2", CultureInfo.InvariantCulture) ?? "-"),7}  {f.Goal}");
    }
}
return 0;
