#!/usr/bin/env python3
"""The app's side of the KMS proxy's test: a real AWS SDK (boto3) pointed at the proxy.

  kms-client.py ENDPOINT OUT.json

Signs with made-up credentials (the proxy re-signs with the instance's), runs Encrypt,
Decrypt of that ciphertext, GenerateDataKey, GenerateDataKeyPair (RSA_2048),
GenerateRandom and DescribeKey, and writes what each call gave back as JSON: the
secrets base64-encoded, or {"error": CODE, "message": ...} for a call that failed.
"""
import base64
import json
import sys

import boto3
import botocore.config


def main():
    endpoint, out = sys.argv[1], sys.argv[2]
    kms = boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="AKIAAPPSIDEFAKE00000",
                       aws_secret_access_key="the app's own secret, never checked",
                       config=botocore.config.Config(retries={"max_attempts": 1},
                                                     connect_timeout=20, read_timeout=60))
    res = {}

    def call(name, fn):
        try:
            res[name] = fn()
        except kms.exceptions.ClientError as e:
            res[name] = {"error": e.response["Error"]["Code"], "message": e.response["Error"].get("Message")}
        except Exception as e:  # an answer without the field the SDK's caller needs
            res[name] = {"error": type(e).__name__, "message": str(e)}

    b64 = lambda b: base64.b64encode(b).decode()
    plain = b"the app's secret \x00\xff"
    call("Encrypt", lambda: {"CiphertextBlob": b64(kms.encrypt(KeyId="alias/app", Plaintext=plain)["CiphertextBlob"])})
    if "CiphertextBlob" in res["Encrypt"]:
        blob = base64.b64decode(res["Encrypt"]["CiphertextBlob"])
        call("Decrypt", lambda: (lambda r: {"Plaintext": b64(r["Plaintext"]), "KeyId": r["KeyId"],
                                            "has_cfr": "CiphertextForRecipient" in r})(
            kms.decrypt(CiphertextBlob=blob)))
    call("GenerateDataKey", lambda: (lambda r: {"Plaintext": b64(r["Plaintext"]),
                                                "CiphertextBlob": b64(r["CiphertextBlob"]),
                                                "has_cfr": "CiphertextForRecipient" in r})(
        kms.generate_data_key(KeyId="alias/app", KeySpec="AES_256")))
    if "CiphertextBlob" in res["GenerateDataKey"]:
        call("DecryptDataKey", lambda: {"Plaintext": b64(kms.decrypt(
            CiphertextBlob=base64.b64decode(res["GenerateDataKey"]["CiphertextBlob"]))["Plaintext"])})
    call("GenerateDataKeyPair", lambda: (lambda r: {"PrivateKeyPlaintext": b64(r["PrivateKeyPlaintext"]),
                                                    "PublicKey": b64(r["PublicKey"])})(
        kms.generate_data_key_pair(KeyId="alias/app", KeyPairSpec="RSA_2048")))
    call("GenerateRandom", lambda: {"Plaintext": b64(kms.generate_random(NumberOfBytes=48)["Plaintext"])})
    call("DescribeKey", lambda: {"KeyId": kms.describe_key(KeyId="alias/app")["KeyMetadata"]["KeyId"]})
    with open(out, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
