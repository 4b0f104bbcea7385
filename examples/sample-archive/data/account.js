window.YTD.account.part0 = [
  {
    "account" : {
      "email" : "demo@example.org",
      "createdVia" : "web",
      "username" : "birdbridge_demo",
      "accountId" : "1101234567890123456",
      "createdAt" : "2019-02-28T17:04:11.000Z",
      "accountDisplayName" : "Birdbridge Demo"
    }
  }
]