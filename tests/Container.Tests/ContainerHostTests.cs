namespace FedMM.Container.Tests;

/// <summary>
/// When the container test runs, skips or fails (<see cref="ContainerHost.Decide"/>), from given
/// facts, so it is checked on machines with and without podman alike.
/// </summary>
public sealed class ContainerHostTests
{
    private static readonly ContainerHostFacts Ready = new("/usr/bin/podman", [], "root", (0, ""));

    [Fact]
    public void Runs_where_podman_runs_containers_as_root_whether_required_or_not()
    {
        Assert.Equal(new ContainerTestDecision(true, null, null), ContainerHost.Decide(Ready, required: false));
        Assert.Equal(new ContainerTestDecision(true, null, null), ContainerHost.Decide(Ready, required: true));
    }

    public static TheoryData<string, ContainerHostFacts, string> Unusable => new()
    {
        { "no podman", Ready with { Podman = null, RunProbe = null }, "podman is not installed" },
        { "no debootstrap", Ready with { MissingTools = ["debootstrap"], RunProbe = null }, "debootstrap not found on PATH" },
        { "not root", Ready with { UserName = "dev", RunProbe = null }, "these tests run as 'dev'" },
        {
            "podman cannot start a container",
            Ready with { RunProbe = (125, "Error: crun: cannot clone: Operation not permitted\nmore\n") },
            "cannot run a container here: `podman run --rm --network host --rootfs /:O /bin/true` exited 125: Error: crun: cannot clone: Operation not permitted / more"
        },
    };

    [Theory]
    [MemberData(nameof(Unusable))]
    public void Skips_saying_why_on_a_machine_that_cannot_run_containers(string machine, ContainerHostFacts facts, string why)
    {
        var decision = ContainerHost.Decide(facts, required: false);
        Assert.False(decision.Run, machine);
        Assert.Null(decision.Failure);
        Assert.Contains(why, decision.Skip);
        Assert.Contains("FEDMM_REQUIRE_CONTAINERS=1", decision.Skip);
    }

    [Theory]
    [MemberData(nameof(Unusable))]
    public void Fails_saying_why_when_containers_are_required(string machine, ContainerHostFacts facts, string why)
    {
        var decision = ContainerHost.Decide(facts, required: true);
        Assert.True(decision.Run, machine);
        Assert.Null(decision.Skip);
        Assert.Contains(why, decision.Failure);
        Assert.StartsWith("FEDMM_REQUIRE_CONTAINERS=1 requires the container test, but ", decision.Failure);
    }

    [Theory]
    [InlineData("1", true)]
    [InlineData("true", true)]
    [InlineData(" TRUE ", true)]
    [InlineData(null, false)]
    [InlineData("", false)]
    [InlineData("0", false)]
    [InlineData("no", false)]
    public void Reads_the_requirement_from_the_variable(string? value, bool required) =>
        Assert.Equal(required, ContainerHost.Required(value));
}
