import asyncio
from kellyapi import KellyAPI

async def main():
    api = KellyAPI(api_key="your_api_key_here")
    result = await api.llm(prompt="Hello!")
    print(result)

if __name__ == "__main__":
    asyncio.run(main())
