#!/usr/bin/python3
"""amqp-try: one AMQP action as a given broker user (pika, an AMQP client
independent of librabbitmq), for the bats suite's permission tests.

  amqp-try.py PORT USER PASSWORD publish EXCHANGE ROUTING_KEY BODY
  amqp-try.py PORT USER PASSWORD declare QUEUE
  amqp-try.py PORT USER PASSWORD bind QUEUE EXCHANGE ROUTING_KEY
  amqp-try.py PORT USER PASSWORD get QUEUE

Prints "ok" (exit 0) when the broker allowed it, "refused: <reply>" (exit
1) when it refused (ACCESS_REFUSED and the like); exit 2 otherwise.  A
publish waits for the broker's confirm, so a refusal is never missed.
"""
import sys

import pika
import pika.exceptions as ex


def main(argv):
    port, user, pw, action = argv[1], argv[2], argv[3], argv[4]
    args = argv[5:]
    params = pika.ConnectionParameters(host="127.0.0.1", port=int(port),
                                       credentials=pika.PlainCredentials(user, pw),
                                       connection_attempts=1, socket_timeout=5)
    try:
        conn = pika.BlockingConnection(params)
    except ex.ProbableAuthenticationError as e:
        print("refused: login: %s" % e)
        return 1
    try:
        ch = conn.channel()
        if action == "publish":
            ch.confirm_delivery()
            ch.basic_publish(args[0], args[1], args[2].encode(),
                             pika.BasicProperties(delivery_mode=2), mandatory=False)
        elif action == "declare":
            ch.queue_declare(args[0], durable=False, auto_delete=True)
        elif action == "bind":
            ch.queue_bind(args[0], args[1], routing_key=args[2])
        elif action == "get":
            ch.basic_get(args[0], auto_ack=False)
        else:
            sys.stderr.write(__doc__)
            return 2
        print("ok")
        return 0
    except (ex.ChannelClosedByBroker, ex.ChannelClosed, ex.ConnectionClosedByBroker) as e:
        print("refused: %s" % e)
        return 1
    finally:
        try:
            conn.close()
        except Exception:
            pass


if __name__ == "__main__":
    sys.exit(main(sys.argv))
