"""The one mapping of the Cloud package's operations (docs/cloud-operations.toml): the page it makes is up to date,
every operation of the Cloud package is listed exactly once, none is pending, and every mapped entry's example runs
on the local cloud, on FakeDigitalOcean (real sshd) or on WasabiEmulator."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cloudorm
from cloudorm.testing import WasabiEmulator
from cloudorm.testing.rootfs import TINY_IMAGE, engine_unavailable
from cloudorm.testing.sshd import sshd_unavailable

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("coming_from_cloud", ROOT / "docs" / "coming_from_cloud.py")
assert _spec is not None and _spec.loader is not None
mapping = importlib.util.module_from_spec(_spec)
sys.modules["coming_from_cloud"] = mapping
_spec.loader.exec_module(mapping)

DATA = mapping.read()
OPS = mapping.ops(DATA) if not mapping.problems(DATA) else []
EXAMPLES = [o for o in OPS if o.status == "mapped" and not o.like]

# Every public operation of the Cloud package (github.com/pmp47/Cloud, cloud/*.py), read from its code: the functions,
# methods and classes a user could call, the config classes' fields, the class attributes the package reads, and two
# calls whose `waitForResponse=False` made them another operation (send and forget).
INVENTORY = {
    "cloud": """
        replace_decimals enforce_decimals
        LambdaConfig LambdaConfig.func_name LambdaConfig.func_handler LambdaConfig.purpose LambdaConfig.role_name
        LambdaConfig.func_filepath LambdaConfig.environment_name LambdaConfig.mem LambdaConfig.timeout
        LambdaConfig.overwrite LambdaConfig.runtime LambdaConfig.pip_requirements_list LambdaConfig.sup_Filepaths_list
        ApiConfig ApiConfig.api_name ApiConfig.purpose ApiConfig.usage_name ApiConfig.usage_purpose
        ApiConfig.usage_throttle_rate ApiConfig.usage_throttle_burst ApiConfig.usage_quota_limit
        ApiConfig.usage_quota_period ApiConfig.usage_quota_offset ApiConfig.key_name ApiConfig.key_purpose
        ApiConfig.resource_name ApiConfig.http_method ApiConfig.stage_name ApiConfig.stage_purpose
        ApiConfig.deployment_purpose
        ClusterConfig ClusterConfig.tag ClusterConfig.n_nodes ClusterConfig.compute_task ClusterConfig.asymKeys
        ClusterConfig.OSimage ClusterConfig.price_per_node ClusterConfig.useMonitoring ClusterConfig.runtime
        ClusterConfig.pip_requirements_list ClusterConfig.sup_Filepaths_list ClusterConfig.List_OS_images
        CloudManager.NoSQLDatabase.Condition CloudManager.NoSQLDatabase.Write CloudManager.NoSQLDatabase.BatchWrite
        CloudManager.NoSQLDatabase.Read CloudManager.NoSQLDatabase.ChangeKeyValues CloudManager.NoSQLDatabase.Query
        CloudManager.NoSQLDatabase.Erase CloudManager.NoSQLDatabase.List_Tables CloudManager.NoSQLDatabase.Create_Table
        CloudManager.NoSQLDatabase.Update_Table_TTL CloudManager.NoSQLDatabase.Delete_Table
        CloudManager.NoSQLDatabase.Scan_Table CloudManager.NoSQLDatabase.Confirm_Table
        CloudManager.ObjectStorage.Exists CloudManager.ObjectStorage.BatchExists CloudManager.ObjectStorage.ListObjects
        CloudManager.ObjectStorage.Upload CloudManager.ObjectStorage.BatchUpload CloudManager.ObjectStorage.UploadFile
        CloudManager.ObjectStorage.Download CloudManager.ObjectStorage.BatchDownload CloudManager.ObjectStorage.Rename
        CloudManager.ObjectStorage.BatchRename CloudManager.ObjectStorage.ListBuckets
        CloudManager.ObjectStorage.CreateBucket CloudManager.ObjectStorage.DeleteBucket
        CloudManager.ObjectStorage.Get_Upload_Url CloudManager.ObjectStorage.Get_Download_Url
        CloudManager.ObjectStorage.Delete CloudManager.ObjectStorage.BatchDelete
        CloudManager.ServerlessFunctions.Summary CloudManager.ServerlessFunctions.List
        CloudManager.ServerlessFunctions.Deploy CloudManager.ServerlessFunctions.Invoke
        CloudManager.ServerlessFunctions.Utils.Create_rest_api
        CloudManager.ServerlessFunctions.Utils.serverless_check_package_size
        CloudManager.Cluster.Deploy CloudManager.Cluster.SendCommand
        CloudManager.Cluster.SendCommand(waitForResponse=False) CloudManager.Cluster.PutSupFile
        CloudManager.Cluster.AddNode CloudManager.Cluster.RebootNodes CloudManager.Cluster.RebootContainer
        CloudManager.Cluster.Shutdown CloudManager.Cluster.PowerOn
        CloudManager.Cluster.Security.SetFirewall CloudManager.Cluster.Security.Create_setup_commands
        CloudManager.Cluster.Security.MakeSudoAdmin CloudManager.Cluster.Security.ChangeRootKey
        CloudManager.Cluster.Security.Configure_SSH CloudManager.Cluster.Security.SetNodewall
        CloudManager.Cluster.Security.SetFail2Ban CloudManager.Cluster.Security.DisableSharedMemExecution
        CloudManager.Cluster.Security.ConfigureNetworkVariables CloudManager.Cluster.Security.Harden
        CloudManager.Cluster.Security.ReadLogs
        CloudManager.Cluster.Transfer.FlashPackage CloudManager.Cluster.Transfer.SendPackage
        CloudManager.Cluster.Transfer.CleanUpDeploymentPackage CloudManager.Cluster.Transfer.CreateDependancyPackage
        CloudManager.Cluster.Transfer.SetUpNode CloudManager.Cluster.Economics.RunningCost
        CloudManager.Cluster.Utils.NodeCountLimit CloudManager.Cluster.Utils.Create_node_names
        CloudManager.Cluster.Utils.WaitForNodes CloudManager.Stats.serverless_usage
        CloudManager.IAM.service CloudManager.IAM.Summary CloudManager.IAM.List_Users CloudManager.IAM.List_Groups
        CloudManager.IAM.List_Roles CloudManager.IAM.List_Policies CloudManager.IAM.Create_User
        CloudManager.IAM.Delete_User CloudManager.IAM.List_User_accesskeys CloudManager.IAM.Generate_User_accesskey
        CloudManager.IAM.Update_User_accesskey CloudManager.IAM.Delete_User_accesskey
        CloudManager.IAM.Show_User_accesskey_lastused CloudManager.IAM.Create_Policy CloudManager.IAM.Delete_Policy
        CloudManager.IAM.Create_Group CloudManager.IAM.Delete_Group CloudManager.IAM.Add_User_to_Group
        CloudManager.IAM.Remove_User_from_Group CloudManager.IAM.List_Groups_Policies
        CloudManager.IAM.List_Groups_Attached_Policies CloudManager.IAM.Attach_Group_Policy
        CloudManager.IAM.Remove_Group_Policy CloudManager.IAM.Create_Role CloudManager.IAM.Delete_Role
        CloudManager.IAM.Attach_Policy_to_Role CloudManager.IAM.Remove_Policy_from_Role
        CloudManager.IAM.Utils.List_policy_actions CloudManager.IAM.Utils.Statementize
        Tests.upload_download_speeds Tests.rename_exists_delete_speeds
    """,
    "aws_service": """
        AWS.preptag
        AWS.DynamoDB AWS.DynamoDB.Table.List AWS.DynamoDB.Table.Create AWS.DynamoDB.Table.Describe
        AWS.DynamoDB.Table.Delete AWS.DynamoDB.Table.Scan AWS.DynamoDB.Table.UpdateTTL AWS.DynamoDB.Write
        AWS.DynamoDB.BatchWrite AWS.DynamoDB.ChangeKeyValue AWS.DynamoDB.Read AWS.DynamoDB.Erase AWS.DynamoDB.Query
        AWS.CostExplorer AWS.CostExplorer.Get_Cost_Usage
        AWS.APIGateway AWS.APIGateway.List AWS.APIGateway.GetId AWS.APIGateway.Create AWS.APIGateway.Update
        AWS.APIGateway.Delete AWS.APIGateway.Deploy AWS.APIGateway.Create_Stage AWS.APIGateway.Resource.List
        AWS.APIGateway.Resource.Create AWS.APIGateway.Resource.Delete AWS.APIGateway.Method.Get
        AWS.APIGateway.Method.Create AWS.APIGateway.Method.Add_Integration AWS.APIGateway.UsagePlan.List
        AWS.APIGateway.UsagePlan.GetId AWS.APIGateway.UsagePlan.List_Keys AWS.APIGateway.UsagePlan.Usage
        AWS.APIGateway.UsagePlan.Create AWS.APIGateway.UsagePlan.Update AWS.APIGateway.UsagePlan.Delete
        AWS.APIGateway.UsagePlan.Add_Key AWS.APIGateway.UsagePlan.Remove_Key AWS.APIGateway.UsagePlan.Add_Stage
        AWS.APIGateway.Key.List AWS.APIGateway.Key.Get_Key AWS.APIGateway.Key.Create AWS.APIGateway.Key.Delete
        AWS.Lambda AWS.Lambda.Summary AWS.Lambda.List AWS.Lambda.Create AWS.Lambda.Add_Permission AWS.Lambda.Invoke
        AWS.WorkMail AWS.WorkMail.Organizations.List AWS.WorkMail.Organizations.GetId AWS.WorkMail.Resource.Create
        AWS.WorkMail.Users.List AWS.WorkMail.Users.GetId AWS.WorkMail.Users.Create AWS.WorkMail.Users.Delete
        AWS.WorkMail.Users.Disable
        AWS.IAM AWS.IAM.Summary AWS.IAM.User.List AWS.IAM.User.Create AWS.IAM.User.Delete AWS.IAM.User.List_AccessKeys
        AWS.IAM.User.AccessKey_LastUse AWS.IAM.User.Generate_AccessKey AWS.IAM.User.Update_AccessKey
        AWS.IAM.User.Delete_AccessKey AWS.IAM.Group.List AWS.IAM.Group.Create AWS.IAM.Group.Delete
        AWS.IAM.Group.Add_User AWS.IAM.Group.Remove_User AWS.IAM.Group.List_Policies
        AWS.IAM.Group.List_Attached_Policies AWS.IAM.Group.Attach_Policy AWS.IAM.Group.Remove_Policy
        AWS.IAM.Policy.List AWS.IAM.Policy.Statementize AWS.IAM.Policy.Create AWS.IAM.Policy.Delete
        AWS.IAM.Role.List AWS.IAM.Role.Create AWS.IAM.Role.Delete AWS.IAM.Role.Attach_Policy AWS.IAM.Role.Remove_Policy
        AWS.Route53 AWS.Organizations AWS.Organizations.Describe AWS.Organizations.Create
        AWS.Organizations.Accounts.List AWS.S3 AWS.WebAppFirewall
    """,
    "wasabi_service": """
        Wasabi Wasabi.Object.Upload Wasabi.Object.UploadFile Wasabi.Object.Download Wasabi.Object.Delete
        Wasabi.Object.Rename Wasabi.Object.Generate_Download_Url Wasabi.Object.Generate_Upload_Url Wasabi.Object.Exists
        Wasabi.Bucket.Create Wasabi.Bucket.Delete Wasabi.Bucket.ListObjects Wasabi.Bucket.List Wasabi.Bucket.Empty
        Wasabi.Bucket.ListDir Tests.main
    """,
    "digitalocean_service": """
        DigitalOcean DigitalOcean.AccountInfo DigitalOcean.ListRegions DigitalOcean.Domain.abc
        DigitalOcean.Security.FirewallRule DigitalOcean.Security.FirewallRule.monitoringmetrics_outbound_rule
        DigitalOcean.Security.FirewallRule.monitoringauth_outbound_rule
        DigitalOcean.Security.FirewallRule.ssh_inbound_rule DigitalOcean.Security.FirewallRule.docker_outbound_rule
        DigitalOcean.Security.FirewallRule.all_tcp_outbound_rule
        DigitalOcean.Security.FirewallRule.all_udp_outbound_rule DigitalOcean.Security.ListSSHKeys
        DigitalOcean.Security.Add_SSHKey DigitalOcean.Security.Create_Firewall
        DigitalOcean.Security.AddDropletToFireWall DigitalOcean.Droplet.ListSizes DigitalOcean.Droplet.ListAll
        DigitalOcean.Droplet.ListImages DigitalOcean.Droplet.Exists DigitalOcean.Droplet.Create
        DigitalOcean.Droplet.CreateMultiple DigitalOcean.Droplet.Destroy DigitalOcean.Droplet.Shutdown
        DigitalOcean.Droplet.Utils.isValidNameorTag DigitalOcean.Droplet.Monitor.GetDOAgentData
        Tests.main Tests.keys Tests.fw Tests.create_list_shutdown_destroy
    """,
    "remotenodes": """
        Communication Communication.Connect Communication.Close Communication.ExecuteCommand
        Communication.ExecuteCommand(waitForResponse=False) Communication.PutFile Communication.GetFile
        ComputeTask TaskArchive ComputeCluster HardenedNode
    """,
    "containers": """
        tprint
        Linux.API.ListDir Linux.API.Install Linux.API.MakeDir Linux.API.Unzip Linux.API.DeleteDir Linux.API.ReadFile
        Linux.API.WriteFile Linux.API.Security.AddUser Linux.API.Security.AddUserToGroup Linux.API.Security.SSH_Harden
        Linux.API.Security.Generate_ssh_jail Linux.API.Security.BlockAllInBut Linux.API.Security.Harden_sysctl
        Linux.API.Performance.CreateSwapfile Linux.API.Performance.LockSwapfile Linux.API.Performance.MarkSwapfile
        Linux.API.Performance.EnableSwapfile Linux.API.Performance.PermanentizeSwapfile
        Linux.API.Performance.SetSwappiness Linux.API.Performance.SetCachePressure Linux.API.Net.MAC_address
        Docker.platform Docker.shell_executor Docker.API.Create Docker.API.Start Docker.API.Stop Docker.API.List
        Docker.API.ArbitraryCommand Docker.API.PipInstall Docker.API.CopyFile Docker.API.ListProcesses
        Docker.API.Monitor Docker.API.Id Docker.API.Version Docker.Create Docker.Start Docker.Inject Docker.Command
        Docker.Compile Docker.MakeFlashLines Docker.IsRunning Docker.Utils.List_Containers Docker.Utils.Info
        Docker.Utils.Extract_Environment
        Conda.API.Info Conda.API.ListInstalls Conda.List_Installs Conda.List_Requirements Conda.Gather_Requirements
        Conda.Utils.FormatRequirements Conda.Utils.call_conda
        Container Container.IsServiceRunning Container.List Container.Run Tests.main
    """,
    "dictableobj": """
        DictableObj DictableObj.Dictify SecurableObject SecurableObject.Secure SecurableObject.Expose
        DiscreteStatusObject DiscreteStatusObject.Obfuscate UniqueStatusObject UniqueStatusObject.Obfuscate
        Tests.main Tests.test_dictableobj Tests.test_securableobject
    """,
    "flashfile_template": "flashfile_template",
}

CREDS = {"aws_access_key_id": "AKIAEXAMPLEKEY000001", "aws_secret_access_key": "example-secret-0001",
         "region": "us-east-1"}
WASABI_CREDS = {"aws_access_key_id": "WASABIEXAMPLEKEY0001", "aws_secret_access_key": "example-secret-0002"}
HANDLER = ("import json\n\n"
           "def my_handler(event, context):\n"
           "    return {'statusCode': 200, 'body': json.dumps(event)}\n")


# ---------------------------------------------------------------------------------------------------- the list


def test_the_list_is_well_formed() -> None:
    """Known fields per status, known modules, `like` naming a mapped entry with an example, reasons that exist,
    and every name the cloudorm spelling calls present in the example."""
    assert mapping.problems(DATA) == []


def test_every_operation_of_the_cloud_package_appears_exactly_once() -> None:
    listed = Counter((o.module, o.name) for o in OPS)
    assert [k for k, n in listed.items() if n > 1] == []
    inventory = {(module, name) for module, names in INVENTORY.items() for name in names.split()}
    assert sum(len(names.split()) for names in INVENTORY.values()) == len(inventory)
    assert sorted(inventory - set(listed)) == [], "operations of the Cloud package missing from the list"
    assert sorted(set(listed) - inventory) == [], "entries that are no operation of the Cloud package"


def test_no_entry_is_pending() -> None:
    pending = [f"{o.module}:{o.name} ({o.area}): {o.asks}" for o in OPS if o.status == "pending"]
    assert pending == [], "still pending:\n" + "\n".join(pending)


def test_the_page_is_generated_from_the_list() -> None:
    page = ROOT / "docs" / "coming-from-cloud.md"
    assert page.read_text() == mapping.render(OPS), "run: python docs/coming_from_cloud.py --write"


def test_the_docs_link_to_the_page() -> None:
    for doc in ("README.md", "docs/iam.md", "docs/storage.md", "docs/serverless.md", "docs/compute.md"):
        assert "coming-from-cloud.md" in (ROOT / doc).read_text(), doc


# ------------------------------------------------------------------------------------------------ the examples


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Clusters' keys and known hosts in a directory of this module's own."""
    path = tmp_path_factory.mktemp("state")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLOUDORM_STATE_DIR", str(path))
        yield path


@pytest.fixture(scope="module")
def local(state_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The local cloud holding one entity of each kind, named as the Cloud package's README names them (no other
    test uses these names; other tests' resources may be there too). Deleted afterwards."""
    script = tmp_path_factory.mktemp("local") / "my_script.py"
    script.write_text(HANDLER)
    s = cloudorm.Session()
    table = s.Table("new_table", hash_key=("hash_att", "S"), range_key=("range_att", "N")).save()
    with table.batch_write() as batch:
        for row in ({"hash_att": "A", "range_att": 5, "other_data": 2.45},
                    {"hash_att": "A", "range_att": 6, "other_data": 2.72},
                    {"hash_att": "B", "range_att": 6, "other_data": 9.99}):
            batch.put(row)
    bucket = s.Bucket("my-new-bucket").save()
    bucket.blob("test/object").upload("maybe a json str")
    statement = cloudorm.Statement.for_service("s3", ["PutObject", "GetObject"], "Allow", ["mybucket1/*"])
    role = s.Role("serverless_func_role", service="lambda", description="For serverless functions").save()
    fn = s.Function("my_serverless_func", handler="my_script.my_handler", source=script, role=role).save()
    made: dict[str, Any] = {
        "table": table, "bucket": bucket, "user": s.User("user1").save(), "group": s.Group("new_group").save(),
        "policy": s.Policy("test_policy", statements=[statement], description="For testing purposes").save(),
        "role": role, "fn": fn, "api": s.Api("my_api", function=fn, route="/resource", key_required=True).save(),
        "cluster": s.Cluster("test-cluster", size=2, runtime=None, progress=False).save(),
    }
    yield {**made, "s": s, "cloudorm": cloudorm, "Path": Path, "creds": CREDS, "endpoint": s.endpoint_url,
           "script": script, "node": made["cluster"].nodes[0]}
    made["api"].delete(keys=True, missing_ok=True)
    for kind in ("cluster", "fn", "table"):
        made[kind].delete(missing_ok=True)
    made["bucket"].delete(force=True, missing_ok=True)
    for kind in ("user", "group", "role", "policy"):
        made[kind].delete(cascade=True, missing_ok=True)


@pytest.fixture(scope="module")
def wasabi(local: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A `wasabi` session through WasabiEmulator (Wasabi's MOVE) in front of the module's local cloud."""
    with WasabiEmulator(local["endpoint"], WASABI_CREDS["aws_access_key_id"],
                        WASABI_CREDS["aws_secret_access_key"]) as emulator:
        s = cloudorm.Session("wasabi", creds=WASABI_CREDS, endpoint_url=emulator.url)
        yield {"s": s, "cloudorm": cloudorm, "Path": Path, "creds": WASABI_CREDS, "endpoint": emulator.url,
               "bucket": s.Bucket("my-new-bucket").save()}
        s.close()


@pytest.fixture(scope="module")
def digitalocean(state_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """FakeDigitalOcean with one cluster of one droplet, a real sshd reached over SSH (skipped where sshd stand-ins
    cannot run; failed then when CLOUDORM_REQUIRE_SSHD is set)."""
    reason = sshd_unavailable()
    if reason is not None:
        pytest.skip(f"no sshd stand-ins: {reason}")
    from cloudorm.testing.digitalocean import FakeDigitalOcean

    with FakeDigitalOcean(root=tmp_path_factory.mktemp("do"), boot_delay=0.05) as do:
        creds = {"access_token": do.token, "region": "nyc3"}
        s = cloudorm.Session("digitalocean", creds=creds, endpoint_url=do.url)
        cluster = s.Cluster("test-cluster", size=1, runtime=None, allow_ssh_from=["0.0.0.0/0"], progress=False).save()
        yield {"s": s, "cloudorm": cloudorm, "Path": Path, "do": do, "creds": creds, "endpoint": do.url,
               "cluster": cluster, "node": cluster.nodes[0]}
        cluster.delete()
        s.close()


@pytest.fixture(scope="module")
def docker(local: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The local names, with ``img``: a small image in this machine's Docker engine, which the local cluster's
    nodes use (skipped where no engine answers; CI has one)."""
    reason = engine_unavailable()
    if reason:
        pytest.skip(reason)
    yield {**local, "img": TINY_IMAGE}
    for each in local["cluster"]:  # what a failed example left behind
        for container in each.containers.list():
            container.remove(force=True, missing_ok=True)


@pytest.fixture(scope="module")
def machines(state_dir: Path) -> Iterator[dict[str, Any]]:
    """FakeDigitalOcean whose droplet is a Debian machine in Docker, in a cluster hardened at creation (skipped
    where Docker cannot run such machines)."""
    from cloudorm.testing.digitalocean import FakeDigitalOcean
    from cloudorm.testing.machines import DockerMachines, docker_unavailable

    reason = docker_unavailable()
    if reason:
        pytest.skip(f"no Docker machines: {reason}")
    made = DockerMachines()
    try:
        with FakeDigitalOcean(boot_delay=0.1, machines=made) as do:
            creds = {"access_token": do.token, "region": "nyc3"}
            s = cloudorm.Session("digitalocean", creds=creds, endpoint_url=do.url)
            cluster = s.Cluster("secure", size=1, runtime=None, allow_ssh_from=["0.0.0.0/0"], progress=False,
                                hardening=cloudorm.Hardening(admin_user="ops", allow_ports=[80])).save()
            yield {"s": s, "cloudorm": cloudorm, "Path": Path, "creds": creds, "endpoint": do.url,
                   "cluster": cluster, "node": cluster.nodes[0]}
            cluster.delete()
            s.close()
    finally:
        made.stop()


@pytest.mark.parametrize("op", EXAMPLES, ids=[f"{o.module}:{o.name}" for o in EXAMPLES])
def test_the_example_runs(op: Any, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """The entry's example, with the names of its `runs_on` ready (entries with `like` share their target's)."""
    namespace = {**request.getfixturevalue(op.runs_on), "tmp": tmp_path}
    exec(compile(op.example, f"<{op.module}:{op.name}>", "exec"), namespace)
