"""Mapping botocore's exceptions onto cloudorm's error types, keeping the provider's code, message and request id."""

from __future__ import annotations

from typing import Any

from botocore import exceptions as bx

from cloudorm import errors as ce
from cloudorm.credentials import redact

_BY_CODE: dict[str, type[ce.CloudError]] = {
    # missing things
    "ResourceNotFoundException": ce.NotFound,
    "NoSuchBucket": ce.NotFound,
    "NoSuchKey": ce.NotFound,
    "NoSuchEntity": ce.NotFound,
    "NoSuchUpload": ce.NotFound,
    "NoSuchVersion": ce.NotFound,
    "NoSuchWebsiteConfiguration": ce.NotFound,
    "NotFoundException": ce.NotFound,
    "NotFound": ce.NotFound,
    "404": ce.NotFound,
    # things already there
    "EntityAlreadyExists": ce.AlreadyExists,
    "TableAlreadyExistsException": ce.AlreadyExists,
    "BucketAlreadyOwnedByYou": ce.AlreadyExists,
    "BucketAlreadyExists": ce.AlreadyExists,
    "ResourceConflictException": ce.ConflictError,
    # failed conditions
    "ConditionalCheckFailedException": ce.ConflictError,
    "TransactionConflictException": ce.ConflictError,
    "ResourceInUseException": ce.ConflictError,
    "DeleteConflict": ce.ConflictError,
    "ConcurrentModification": ce.ConflictError,
    "EntityTemporarilyUnmodifiable": ce.ConflictError,
    "BucketNotEmpty": ce.ConflictError,
    "OperationAborted": ce.ConflictError,  # S3: a conflicting operation on the bucket is in progress
    "PreconditionFailed": ce.ConflictError,
    "ConflictException": ce.ConflictError,
    # bad requests
    "ValidationException": ce.InvalidInput,
    "ValidationError": ce.InvalidInput,
    "SerializationException": ce.InvalidInput,
    "InvalidParameterValueException": ce.InvalidInput,
    "InvalidParameterValue": ce.InvalidInput,
    "InvalidInput": ce.InvalidInput,
    "MalformedPolicyDocument": ce.InvalidInput,
    "PolicyNotAttachable": ce.InvalidInput,
    "InvalidBucketName": ce.InvalidInput,
    "InvalidArgument": ce.InvalidInput,
    "BadRequestException": ce.InvalidInput,
    "InvalidRange": ce.InvalidInput,
    "EntityTooSmall": ce.InvalidInput,
    "EntityTooLarge": ce.InvalidInput,
    "KeyTooLongError": ce.InvalidInput,
    "InvalidLocationConstraint": ce.InvalidInput,
    "IllegalLocationConstraintException": ce.InvalidInput,
    # Lambda
    "PreconditionFailedException": ce.ConflictError,  # a stale RevisionId
    "ResourceNotReadyException": ce.ConflictError,  # the function is not Active yet
    "CodeStorageExceededException": ce.InvalidInput,
    "RequestTooLargeException": ce.InvalidInput,
    "InvalidRequestContentException": ce.InvalidInput,
    "InvalidRuntimeException": ce.InvalidInput,
    "InvalidZipFileException": ce.InvalidInput,
    "PolicyLengthExceededException": ce.InvalidInput,
    "UnsupportedMediaTypeException": ce.InvalidInput,
    "SerializedRequestEntityTooLargeException": ce.InvalidInput,  # an invocation's payload over the limit
    "CodeVerificationFailedException": ce.InvalidInput,  # code signing refused the zip
    "InvalidCodeSignatureException": ce.InvalidInput,
    "KMSAccessDeniedException": ce.AccessDenied,
    "EC2AccessDeniedException": ce.AccessDenied,  # the execution role lacks the VPC permissions
    "EFSMountFailureException": ce.AccessDenied,
    "EC2ThrottledException": ce.Throttled,
    "SnapStartNotReadyException": ce.ConflictError,  # a SnapStart version is still being prepared
    # EC2
    "InvalidInstanceID.NotFound": ce.NotFound,
    "InvalidAMIID.NotFound": ce.NotFound,
    "InvalidAMIID.Unavailable": ce.NotFound,
    "InvalidKeyPair.NotFound": ce.NotFound,
    "InvalidGroup.NotFound": ce.NotFound,
    "InvalidVpcID.NotFound": ce.NotFound,
    "InvalidSubnetID.NotFound": ce.NotFound,
    "InvalidPermission.NotFound": ce.NotFound,
    "InvalidKeyPair.Duplicate": ce.AlreadyExists,
    "InvalidGroup.Duplicate": ce.AlreadyExists,
    "InvalidPermission.Duplicate": ce.AlreadyExists,
    "DependencyViolation": ce.ConflictError,  # a security group still used by (terminating) instances
    "IncorrectInstanceState": ce.ConflictError,
    "InvalidInstanceID.Malformed": ce.InvalidInput,
    "InvalidAMIID.Malformed": ce.InvalidInput,
    "InvalidGroupId.Malformed": ce.InvalidInput,
    "InvalidKeyPair.Format": ce.InvalidInput,
    "InvalidInstanceType": ce.InvalidInput,
    "InvalidParameter": ce.InvalidInput,
    "InvalidParameterCombination": ce.InvalidInput,
    "MissingParameter": ce.InvalidInput,
    "InvalidUserData.Malformed": ce.InvalidInput,
    "VPCIdNotSpecified": ce.InvalidInput,  # the region has no default VPC
    "AuthFailure": ce.AccessDenied,  # EC2's word for credentials it could not validate
    "OptInRequired": ce.AccessDenied,  # the account is not subscribed to EC2 (or to that region)
    # credentials and permissions
    "AccessDenied": ce.AccessDenied,
    "AccessDeniedException": ce.AccessDenied,
    "UnrecognizedClientException": ce.AccessDenied,
    "InvalidClientTokenId": ce.AccessDenied,
    "InvalidAccessKeyId": ce.AccessDenied,
    "SignatureDoesNotMatch": ce.AccessDenied,
    "AuthorizationHeaderMalformed": ce.AccessDenied,  # S3: signed for another region
    "AuthorizationQueryParametersError": ce.AccessDenied,
    "ExpiredToken": ce.AccessDenied,
    "ExpiredTokenException": ce.AccessDenied,
    "MissingAuthenticationToken": ce.AccessDenied,
    "UnauthorizedOperation": ce.AccessDenied,
    "UnauthorizedException": ce.AccessDenied,  # API Gateway
    "403": ce.AccessDenied,
    # slow down
    "ThrottlingException": ce.Throttled,
    "Throttling": ce.Throttled,
    "ThrottledException": ce.Throttled,
    "ProvisionedThroughputExceededException": ce.Throttled,
    "RequestLimitExceeded": ce.Throttled,
    "RequestThrottled": ce.Throttled,
    "SlowDown": ce.Throttled,
    "TooManyRequestsException": ce.Throttled,
    "LimitExceededException": ce.Throttled,  # API Gateway: 429, the account's request rate
    # time
    "RequestTimeout": ce.Timeout,
    "RequestTimeoutException": ce.Timeout,
}

_BY_OPERATION: dict[tuple[str, str], type[ce.CloudError]] = {
    ("CreateTable", "ResourceInUseException"): ce.AlreadyExists,
    ("CreateFunction", "ResourceConflictException"): ce.AlreadyExists,
    ("CreateResource", "ConflictException"): ce.AlreadyExists,  # API Gateway: that path exists
    ("CreateApiKey", "ConflictException"): ce.AlreadyExists,
}


def map_client_error(exc: bx.ClientError, provider: str, secrets: tuple[str, ...] = ()) -> ce.CloudError:
    """The cloudorm error for a botocore ``ClientError``."""
    response: dict[str, Any] = dict(exc.response or {})
    err = response.get("Error", {}) or {}
    meta = response.get("ResponseMetadata", {}) or {}
    code = str(err.get("Code") or meta.get("HTTPStatusCode") or "Unknown")
    operation = exc.operation_name
    message = redact(str(err.get("Message") or code), secrets)
    if message.lstrip().startswith("<"):  # an emulator's HTML error page, not an AWS error document
        message = f"the endpoint answered HTTP {meta.get('HTTPStatusCode')} with an HTML error page (not an AWS error)"
    request_id = meta.get("RequestId") or (meta.get("HTTPHeaders") or {}).get("x-amz-request-id")
    status = meta.get("HTTPStatusCode")
    details: dict[str, Any] = {"code": code, "request_id": request_id, "provider": provider,
                               "operation": operation, "status": status}
    if code == "UnknownOperationException":  # an emulator (dynalite) that lacks the operation
        return ce.Unsupported(provider, operation, "the endpoint does not implement it", code=code,
                              request_id=request_id, operation=operation, status=status)
    cls = _BY_OPERATION.get((operation, code)) or _BY_CODE.get(code)
    if cls is None and status == 404:
        cls = ce.NotFound
    if cls is ce.InvalidInput:
        return ce.InvalidInput(None, message, **details)
    return (cls or ce.CloudError)(message, **details)


def map_error(exc: Exception, provider: str, operation: str | None = None,
              secrets: tuple[str, ...] = ()) -> Exception:
    """The cloudorm error for any botocore exception (other exceptions are returned unchanged)."""
    if isinstance(exc, ce.CloudError):
        return exc
    if isinstance(exc, bx.ClientError):
        return map_client_error(exc, provider, secrets)
    details: dict[str, Any] = {"provider": provider, "operation": operation}
    text = redact(str(exc), secrets)
    if isinstance(exc, (bx.ReadTimeoutError, bx.ConnectTimeoutError)):
        return ce.Timeout(text, **details)
    if isinstance(exc, bx.NoCredentialsError):
        return ce.AccessDenied("no credentials: pass creds={'aws_access_key_id': ..., "
                               "'aws_secret_access_key': ...} or configure boto3's default chain", **details)
    if isinstance(exc, bx.ParamValidationError):
        return ce.InvalidInput(None, text, **details)
    if isinstance(exc, bx.BotoCoreError):
        return ce.CloudError(text, **details)
    return exc
